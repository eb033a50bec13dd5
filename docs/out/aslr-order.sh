# needs: root
# ANCHOR: cmd
fresh
hosts A -- touch
awk '$6 ~ /\.so/ && !seen[$6]++ {print "0x" substr($1, 1, index($1, "-") - 1), $6}' /proc/$A/maps
# ANCHOR_END: cmd
