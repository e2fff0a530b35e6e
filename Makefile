# Build, test and demo the Confluence Data Center connector.
#   make demo  - build everything, start the simulator, run a full sync through the sandboxed component
#   make test  - all tests (unit, component, end to end)
# Both install what they need (the wasm32-wasip2 Rust target) on a fresh machine.

CARGO ?= cargo
GUEST_DIR := target/wasm32-wasip2/guest

.PHONY: all setup component probe interop build test demo bench clean

all: build

setup:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

## The Confluence connector component (small, optimised).
component: setup
	$(CARGO) build -p confluence-connector --target wasm32-wasip2 --profile guest
	@ls -l $(GUEST_DIR)/confluence_connector.wasm

## The test-only probe component.
probe: setup
	$(CARGO) build -p probe-guest --target wasm32-wasip2 --profile guest

## An independent Go reader of .c1z files (baton's zstd and SQLite libraries), for interop tests.
interop:
	cd tests/interop/c1zcheck && go build -buildvcs=false -o ../../../target/c1zcheck .

## The host binary and the simulator (debug), with the component they load.
build: component
	$(CARGO) build -p baton-confluence-datacenter -p confluence-tests --bins

test: build probe interop
	$(CARGO) test --workspace --exclude probe-guest

demo: build
	@scripts/demo.sh

## Release builds, a large simulated Confluence, our defaults against the Go connector's request
## pattern in one run; writes BENCHMARKS.md.
bench: component
	$(CARGO) build --release -p baton-confluence-datacenter -p confluence-tests --bins
	python3 scripts/bench.py

clean:
	$(CARGO) clean
