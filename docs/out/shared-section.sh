# needs: root
# ANCHOR: cmd
fresh
hosts A B C --
tell A 'clip-set:Hello from A'
tell B clip-get
tell C clip-get
tell A add:1,1
tell B add:2,2
tell C add:3,3
# ANCHOR_END: cmd
