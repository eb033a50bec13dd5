# solab: see `make help`.
CARGO   ?= cargo
CC      ?= cc
CFLAGS  ?= -O2 -Wall -Wextra -Werror
PROFILE := release
OUT     := target/$(PROFILE)
# Builds that do not depend on where the repository is checked out: the book shows
# offsets inside libsolib.so, which must be the same in every clone.
export RUSTFLAGS ?= --remap-path-prefix=$(CURDIR)=.
MDBOOK_VERSION := 0.5.4
MDBOOK  := .tools/bin/mdbook

.PHONY: all help build lab demo test soak docs docs-outputs bench lint fmt clean fuzz churn

all: build

help:
	@echo "make lab    build everything, then run the guided experiments"
	@echo "make lab E=3  only experiment 3"
	@echo "make demo   Rust, C and Python processes sharing one counter and clipboard"
	@echo "make test   build everything, then run every test with real processes"
	@echo "make build  build libsolib.so, solab, solab-lab, solab-lab-host, the C client and libsolib-c.so into $(OUT)/"
	@echo "make soak   64 processes hammer the shared section for SOAK_SECONDS (600)"
	@echo "make docs   build the tutorial book into docs/book (installs mdbook $(MDBOOK_VERSION) in .tools)"
	@echo "make docs-outputs   regenerate the outputs the book shows"
	@echo "make lint   cargo fmt --check and cargo clippy -D warnings"
	@echo "make bench  solab libs vs smem -m and a minimal pagemap reader (HOSTS=200 PYTHONS=200)"
	@echo "make fuzz   fuzz each analyzer parser for FUZZ_SECONDS (default 60) with cargo fuzz"
	@echo "make churn  solab inspect/prove while processes are spawned and killed (CHURN_RUNS=2000)"

build:
	@scripts/install-deps.sh
	$(CARGO) build --workspace --$(PROFILE)
	$(CC) $(CFLAGS) -Isolib/include clients/c/solib_client.c -o $(OUT)/solib-client \
	    -L$(OUT) -lsolib -Wl,-rpath,'$$ORIGIN'
	@# The shared section again, in C (docs: "The shared section in C").
	$(CC) $(CFLAGS) -fPIC -shared solib-c/shared.c -o $(OUT)/libsolib-c.so
	$(CC) $(CFLAGS) -Isolib-c solib-c/hit.c -o $(OUT)/solibc-hit \
	    -L$(OUT) -lsolib-c -Wl,-rpath,'$$ORIGIN'
	@mkdir -p target/lab
	@# -fno-toplevel-reorder: gcc emits functions and top-level asm in source order (GCC
	@# manual, Optimize Options), so the filler pages really surround the two functions
	@# that use data; by default gcc emits every top-level asm first.
	$(CC) -O2 -fno-toplevel-reorder -fPIC -shared lab/textrel/textrel.c \
	    -o target/lab/libtextrel-pic.so
	@# -fno-pic -mcmodel=large: absolute addresses in the code, hence DT_TEXTREL (the
	@# linker's warning about it is the point of the experiment).
	$(CC) -O2 -fno-toplevel-reorder -fno-pic -mcmodel=large -shared lab/textrel/textrel.c \
	    -o target/lab/libtextrel-textrel.so 2>/dev/null

# make lab E=3 runs experiment 3 alone; make demo runs the short cross-process demo.
lab: build
	$(OUT)/solab-lab $(if $(E),-e $(E))

demo: build
	@scripts/demo.sh $(OUT)

test: build
	$(CARGO) test --workspace --$(PROFILE)

# The long shared-section soak: 64 processes for SOAK_SECONDS (default 600); its figures
# go to docs/src/out/soak-long.txt, which the book's reliability page shows.
SOAK_SECONDS ?= 600
soak: build
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_REPORT=$(CURDIR)/docs/src/out/soak-long.txt \
	    $(CARGO) test --$(PROFILE) --test tests long_soak -- --ignored --nocapture

# The tutorial book (docs/): HTML in docs/book/.
docs: build $(MDBOOK)
	$(MDBOOK) build docs
	@echo "open docs/book/index.html"

$(MDBOOK):
	$(CARGO) install mdbook --version $(MDBOOK_VERSION) --locked --root .tools

# Rewrite the outputs the book shows (docs/src/out/*.txt) from docs/out/*.sh.
docs-outputs: build
	UPDATE_DOCS=1 $(CARGO) test --$(PROFILE) --test tests docs::every_output -- --nocapture

# Writes docs/src/bench-results.md; installs smem and hyperfine if missing. Needs root.
bench: build
	$(CARGO) build --release --example minreader
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
FUZZ_TARGETS ?= maps_parse elf_plan pagemap_decode clipboard_read
fuzz: build
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	scripts/fuzz-seeds.sh
	@mkdir -p target/fuzz-logs
	@set -e; for t in $(FUZZ_TARGETS); do \
	    echo "== fuzz $$t for $(FUZZ_SECONDS) s (log: target/fuzz-logs/$$t.log)"; \
	    (cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --release --debug-assertions $$t corpus/$$t seeds/$$t -- \
	        -max_total_time=$(FUZZ_SECONDS) -max_len=131072 -timeout=10 -rss_limit_mb=2048 \
	        -print_final_stats=1) > target/fuzz-logs/$$t.log 2>&1 \
	    || { tail -40 target/fuzz-logs/$$t.log; echo "fuzz $$t FAILED: input in fuzz/artifacts/$$t/"; exit 1; }; \
	    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|DONE' target/fuzz-logs/$$t.log; \
	done

# The churn test, long: CHURN_RUNS runs of solab while processes come and go.
CHURN_RUNS ?= 2000
churn: build
	SOLAB_CHURN_RUNS=$(CHURN_RUNS) $(CARGO) test --$(PROFILE) --test tests churn -- --nocapture
