# solab: see `make help`.
CARGO   ?= cargo
CC      ?= cc
CFLAGS  ?= -O2 -Wall -Wextra -Werror
# PROFILE is a cargo profile; cargo builds `dev` (and `test`) into debug/, the others into
# a directory of their own name. CARGO_TARGET_DIR moves everything, as it does for cargo.
PROFILE ?= release
TARGET  := $(or $(CARGO_TARGET_DIR),target)
OUT     := $(TARGET)/$(if $(filter dev test,$(PROFILE)),debug,$(PROFILE))
# The lab's C libraries (lab/textrel), and where `make lab` writes its report.
LABDIR  := $(TARGET)/lab
# Builds that do not depend on where the repository is checked out: the book shows
# offsets inside libsolib.so, which must be the same in every clone.
export RUSTFLAGS ?= --remap-path-prefix=$(CURDIR)=.
# make install: the usual GNU variables; DESTDIR stages (make deb uses it).
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
SOLIB_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' solib/Cargo.toml | head -1)
MDBOOK_VERSION := 0.5.4
MDBOOK  := .tools/bin/mdbook

.PHONY: all help build lab demo test soak docs docs-outputs bench lint fmt clean fuzz churn \
	install uninstall deb deb-only lintian realworld difftest hostile

all: build

help:
	@echo "make lab    build everything, then run the guided experiments"
	@echo "make lab E=3  only experiment 3"
	@echo "make demo   Rust, C and Python processes sharing one counter and clipboard"
	@echo "make test   build everything, then run every test with real processes"
	@echo "make build  build libsolib.so, solab, solab-lab, solab-lab-host, the C client,"
	@echo "            libsolib-c.so, the man pages and the completions into $(OUT)/"
	@echo "make install   after make build: install under PREFIX ($(PREFIX)), staged in DESTDIR"
	@echo "make uninstall remove what make install installed (same PREFIX and DESTDIR)"
	@echo "make deb    build, then a Debian package $(TARGET)/solab_$(VERSION)_ARCH.deb"
	@echo "make deb-only   the package from what make build built, without building"
	@echo "make lintian    make deb-only, then lintian on the package"
	@echo "make soak   64 processes hammer the shared section for SOAK_SECONDS (600)"
	@echo "make docs   build the tutorial book into docs/book (installs mdbook $(MDBOOK_VERSION) in .tools)"
	@echo "make docs-outputs   regenerate the outputs the book shows"
	@echo "make lint   cargo fmt --check and cargo clippy -D warnings"
	@echo "make bench  solab libs/ps/family vs smem and minimal pagemap readers (HOSTS=200 PYTHONS=200)"
	@echo "make fuzz   fuzz each analyzer parser and the inspect path for FUZZ_SECONDS (default 60)"
	@echo "make churn  solab inspect/prove while processes are spawned and killed (CHURN_RUNS=2000)"
	@echo "make realworld  solab ps/family/prove on PostgreSQL, Redis, Apache and gunicorn vs smaps_rollup"
	@echo "            (installs them; root; SERVERS=\"redis apache\" for some; not part of make test)"
	@echo "make difftest  random memory operations on process trees, solab vs the kernel and a"
	@echo "            page walk, for DIFF_SECONDS (60); DIFF_SEED=N replays one seed (root)"
	@echo "make hostile  uid-65534 processes with HOSTILE_N mappings/objects (65000) against solab"

build:
	@scripts/install-deps.sh
	$(CARGO) build --workspace --profile $(PROFILE)
	@# The name the loader looks for (DT_SONAME, set in solib/build.rs) beside the library,
	@# for the programs linked with -lsolib here: the C client and the tests' C programs.
	ln -sf libsolib.so $(OUT)/$$(readelf -d $(OUT)/libsolib.so | sed -n 's/.*soname: \[\(.*\)\]/\1/p')
	$(CC) $(CFLAGS) -Isolib/include clients/c/solib_client.c -o $(OUT)/solib-client \
	    -L$(OUT) -lsolib -Wl,-rpath,'$$ORIGIN'
	@# The shared section again, in C (docs: "The shared section in C").
	$(CC) $(CFLAGS) -fPIC -shared solib-c/shared.c -o $(OUT)/libsolib-c.so
	$(CC) $(CFLAGS) -Isolib-c solib-c/hit.c -o $(OUT)/solibc-hit \
	    -L$(OUT) -lsolib-c -Wl,-rpath,'$$ORIGIN'
	@mkdir -p $(LABDIR)
	@# -fno-toplevel-reorder: gcc emits functions and top-level asm in source order (GCC
	@# manual, Optimize Options), so the filler pages really surround the two functions
	@# that use data; by default gcc emits every top-level asm first.
	$(CC) -O2 -fno-toplevel-reorder -fPIC -shared lab/textrel/textrel.c \
	    -o $(LABDIR)/libtextrel-pic.so
	@# -fno-pic -mcmodel=large: absolute addresses in the code, hence DT_TEXTREL (the
	@# linker's warning about it is the point of the experiment).
	$(CC) -O2 -fno-toplevel-reorder -fno-pic -mcmodel=large -shared lab/textrel/textrel.c \
	    -o $(LABDIR)/libtextrel-textrel.so 2>/dev/null
	@# Man pages and completions, from the clap definitions the programs parse with.
	$(OUT)/solab-gen $(OUT)

# make install does not build: run `make build` first (as yourself), then `sudo make
# install`; a build as root would leave root-owned files in the target directory.
# The book (docs/book) is installed only when `make docs` has built it.
install uninstall:
	@OUT=$(OUT) PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) SOLIB_VERSION=$(SOLIB_VERSION) \
	    scripts/install.sh $@

# A Debian package made with dpkg-deb from `make install DESTDIR=... PREFIX=/usr`.
deb: build
	@$(MAKE) --no-print-directory deb-only

deb-only:
	@TARGET=$(TARGET) VERSION=$(VERSION) MAKE="$(MAKE)" scripts/deb.sh

lintian: deb-only
	@scripts/install-deps.sh lintian
	lintian --info --display-info --pedantic $(TARGET)/solab_$(VERSION)_$$(dpkg --print-architecture).deb

# make lab E=3 runs experiment 3 alone; make demo runs the short cross-process demo.
lab: build
	$(OUT)/solab-lab --fixtures $(LABDIR) --out $(LABDIR) $(if $(E),-e $(E))

demo: build
	@scripts/demo.sh $(OUT)

test: build
	$(CARGO) test --workspace --profile $(PROFILE)

# The long shared-section soak: 64 processes for SOAK_SECONDS (default 600); its figures
# go to docs/src/out/soak-long.txt, which the book's reliability page shows.
SOAK_SECONDS ?= 600
soak: build
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_REPORT=$(CURDIR)/docs/src/out/soak-long.txt \
	    $(CARGO) test --profile $(PROFILE) --test tests long_soak -- --ignored --nocapture

# The tutorial book (docs/): HTML in docs/book/.
docs: build $(MDBOOK)
	$(MDBOOK) build docs
	@echo "open docs/book/index.html"

$(MDBOOK):
	$(CARGO) install mdbook --version $(MDBOOK_VERSION) --locked --root .tools

# Rewrite the outputs the book shows (docs/src/out/*.txt) from docs/out/*.sh.
# Every output and tool picture of the book, from this one build in one run (the checkout
# shown as ~/solab); then the checks that need no run: one build-id per object, the prose's
# numbers in the outputs, every picture fits a 700 px column.
docs-outputs: build
	UPDATE_DOCS=1 $(CARGO) test --profile $(PROFILE) --test tests docs::every_output -- --nocapture
	$(CARGO) test --profile $(PROFILE) --test tests docs:: -- --skip every_output

# Writes docs/src/bench-results.md; installs smem and hyperfine if missing. Needs root.
# HOSTS=1000 PYTHONS=1000 grows it to 2,000 processes; FAMILY_GIB=0 skips the family.
bench: build
	$(CARGO) build --profile $(PROFILE) --example minreader
	$(CC) $(CFLAGS) bench/family.c -o $(OUT)/bench-family
	$(CC) $(CFLAGS) bench/cow-workload.c -o $(OUT)/bench-cow-workload
	$(CC) $(CFLAGS) bench/sleepers.c -o $(OUT)/bench-sleepers
	bench/bench.sh $(OUT)

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean

# Coverage-guided fuzzing (issue 8): every parser of outside bytes, FUZZ_SECONDS each.
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
FUZZ_SECONDS ?= 60
# The targets are fuzz/Cargo.toml's [[bin]] names; FUZZ_TARGETS=NAME fuzzes one.
FUZZ_TARGETS ?= $(shell scripts/fuzz-targets.sh)
fuzz: build
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	OUT=$(OUT) LABDIR=$(LABDIR) scripts/fuzz-seeds.sh
	@mkdir -p $(TARGET)/fuzz-logs
	@set -e; for t in $(FUZZ_TARGETS); do \
	    echo "== fuzz $$t for $(FUZZ_SECONDS) s (log: $(TARGET)/fuzz-logs/$$t.log)"; \
	    (cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --release --debug-assertions $$t corpus/$$t seeds/$$t -- \
	        -max_total_time=$(FUZZ_SECONDS) -max_len=131072 -timeout=10 -rss_limit_mb=2048 \
	        -print_final_stats=1) > $(TARGET)/fuzz-logs/$$t.log 2>&1 \
	    || { tail -40 $(TARGET)/fuzz-logs/$$t.log; echo "fuzz $$t FAILED: input in fuzz/artifacts/$$t/"; exit 1; }; \
	    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|DONE' $(TARGET)/fuzz-logs/$$t.log; \
	done

# The churn test, long: CHURN_RUNS runs of solab while processes come and go.
CHURN_RUNS ?= 2000
churn: build
	SOLAB_CHURN_RUNS=$(CHURN_RUNS) $(CARGO) test --profile $(PROFILE) --test tests churn -- --nocapture

# Real pre-fork servers (PostgreSQL, Redis during BGSAVE, Apache prefork, gunicorn
# --preload), each on 127.0.0.1 with its own config in a temporary directory: solab's
# figures beside smaps_rollup's. Root; installs the servers; outputs in $(TARGET)/realworld.
realworld: build
	scripts/realworld.sh $(OUT) $(TARGET)

# The randomized differential test (tests/difftest.rs), long: new seeds for DIFF_SECONDS;
# DIFF_SEED=N replays one seed, DIFF_STEPS operations per seed (40); DIFF_SWAP=1 makes a
# 256 MiB swap file for the run (swapped off and removed after), so pages go to swap;
# DIFF_KSM=1 switches KSM on for the run (restored after), MADV_MERGEABLE three advice in four.
DIFF_SECONDS ?= 60
difftest: build
	DIFF_SECONDS=$(DIFF_SECONDS) $(if $(DIFF_SEED),DIFF_SEED=$(DIFF_SEED)) \
	    $(if $(DIFF_SWAP),DIFF_SWAP=$(DIFF_SWAP)) $(if $(DIFF_KSM),DIFF_KSM=$(DIFF_KSM)) \
	    $(CARGO) test --profile $(PROFILE) --test tests difftest::long -- --ignored --nocapture

# Hostile processes at scale (tests/hostile_scale.rs) at HOSTILE_N and a quarter of it:
# peak RSS and CPU time of solab ps, libs and inspect, printed as `hostile-scale:` lines
# for the reliability page. As root (the attackers run as uid 65534; vm.max_map_count is
# raised for the run and put back).
HOSTILE_N ?= 65000
# Forked children for prove's test (and a quarter of it); kernel.pid_max is raised for it.
HOSTILE_PROVE_N ?= 1200
hostile: build
	SOLAB_HOSTILE_N=$(HOSTILE_N) SOLAB_PROVE_N=$(HOSTILE_PROVE_N) $(CARGO) test --profile $(PROFILE) --test tests hostile_scale \
	    -- --nocapture --test-threads=1
