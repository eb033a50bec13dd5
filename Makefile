# solab: see `make help`.
CARGO   ?= cargo
CC      ?= cc
CFLAGS  ?= -O2 -Wall -Wextra -Werror
PROFILE := release
OUT     := target/$(PROFILE)

.PHONY: all help build lab test lint fmt clean

all: build

help:
	@echo "make lab    build everything, then run the guided experiments"
	@echo "make test   build everything, then run every test with real processes"
	@echo "make build  build libsolib.so, solab, lab-host and the C client into $(OUT)/"
	@echo "make lint   cargo fmt --check and cargo clippy -D warnings"

build:
	$(CARGO) build --workspace --$(PROFILE)
	$(CC) $(CFLAGS) -Isolib/include clients/c/solib_client.c -o $(OUT)/solib-client \
	    -L$(OUT) -lsolib -Wl,-rpath,'$$ORIGIN'

lab: build
	@scripts/demo.sh $(OUT)

test: build
	$(CARGO) test --workspace --$(PROFILE)

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
