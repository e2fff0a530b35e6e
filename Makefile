# Build, test and demo the Confluence Data Center connector.
#   make demo  - build everything, start the simulator, run a full sync through the sandboxed component
#   make test  - all tests (unit, component, end to end, Kubernetes manifests, container image)
#   make image - the container image, built without a daemon (umoci), into target/image/oci
#   make publish REGISTRY=... TAG=... - the component to an OCI registry
#   make examples - the example connectors of examples/ (Python, componentize-py)
#   make publish-wit REGISTRY=... - the contract as a WIT package to an OCI registry
# Both install what they need on a fresh machine: the wasm32-wasip2 Rust target, Go modules, a
# Python venv, and for `make test` and `make image` the Debian packages umoci, skopeo and
# docker-registry (scripts/install-deps.sh, only when one is missing).

CARGO ?= cargo
GUEST_DIR := target/wasm32-wasip2/guest
## debug (the default: what `make build` already built) or release.
IMAGE_PROFILE ?= debug

.PHONY: all setup deps lint component probe interop peers build examples test k8s-check image image-test demo bench publish publish-wit clean

all: build

setup:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

## Everything the tests and the image need (idempotent: installs only what is missing).
deps: setup
	@scripts/install-deps.sh

## Style: rustfmt (rustfmt.toml) and clippy with warnings as errors, for the host and tests
## natively and for the components on their wasm target; and the dependencies against the
## RustSec advisories (scripts/audit.sh, offline, from ../shared/advisory-db).
lint: setup
	$(CARGO) fmt --all --check
	@scripts/audit.sh
	$(CARGO) clippy --workspace --exclude probe-guest --all-targets -- -D warnings
	$(CARGO) clippy -p confluence-connector -p probe-guest --target wasm32-wasip2 --all-targets -- -D warnings

## The Confluence connector component (small, optimised).
component: setup
	$(CARGO) build -p confluence-connector --target wasm32-wasip2 --profile guest
	@ls -l $(GUEST_DIR)/confluence_connector.wasm

## The test-only probe component.
probe: setup
	$(CARGO) build -p probe-guest --target wasm32-wasip2 --profile guest

## An independent Go reader of .c1z files (baton's zstd and SQLite libraries), the real cosign
## (from its Go module) and wkg (from crates.io), for interop tests.
interop:
	cd tests/interop/c1zcheck && go build -buildvcs=false -o ../../../target/c1zcheck .
	@test -x target/tools/bin/cosign || { echo "building cosign v2.6.5 into target/tools/bin (once, a few minutes)"; \
		GOBIN=$(CURDIR)/target/tools/bin go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5; }
	@test -x target/tools/bin/wkg || { echo "installing wkg 0.16.1 into target/tools/bin (once, a few minutes)"; \
		$(CARGO) install wkg --version 0.16.1 --locked --root target/tools --quiet; }

## The official baton CLI and the older Go connector (target/peers), from ../shared/peers when this
## machine has it; the tests that need them say loudly that they were skipped when it does not.
peers:
	@if [ -x ../shared/peers/install.sh ]; then ../shared/peers/install.sh target/peers >/dev/null; \
	else echo "NOTICE: ../shared/peers/install.sh is absent: the tests against the official baton CLI and the Go connector will be skipped" >&2; fi

## The host binary and the simulator (debug), with the component they load, compiled into
## the compile cache.
build: component
	$(CARGO) build -p baton-confluence-datacenter -p confluence-tests --bins
	@# Compile the component for this machine into the user's cache now, so the first run starts at once.
	@target/debug/baton-confluence-datacenter component inspect >/dev/null

## The example connectors of examples/ (a Python one, built with componentize-py in a venv under
## target/examples); where Python cannot be set up it says so, and their tests skip.
examples:
	@scripts/build-examples.sh

test: deps build probe interop peers examples k8s-check image-test
	CARGO=$(CARGO) scripts/cargo-test.sh --workspace --exclude probe-guest

## deploy/kubernetes against the Kubernetes JSON schemas and k8s.io/api's types, plus the
## deployment's security rules; broken copies must fail.
k8s-check:
	tests/interop/k8scheck/check.sh

## The container image (OCI layout target/image/oci, tag latest), without a container daemon.
## Same cargo invocation as `build` (debug) or `bench` (release), so nothing is rebuilt twice.
image: deps component
	$(CARGO) build $(if $(filter release,$(IMAGE_PROFILE)),--release) -p baton-confluence-datacenter -p confluence-tests --bins
	scripts/image.sh $(IMAGE_PROFILE)

## Push the image to a throwaway registry on 127.0.0.1, pull it back, run it unpacked.
image-test: image
	tests/image/test.sh

demo: build
	@scripts/demo.sh

## Release builds, a large simulated Confluence, our defaults against the Go connector's request
## pattern in one run; writes BENCHMARKS.md.
bench: component probe
	$(CARGO) build --release -p baton-confluence-datacenter -p confluence-tests --bins
	python3 scripts/bench.py

## Push the component to an OCI registry: make publish REGISTRY=registry.example.com TAG=1.2.0
## [REPOSITORY=baton/confluence-datacenter] [SOURCE=https://...]; prints the manifest digest.
## Credentials: BATON_REGISTRY_USERNAME / BATON_REGISTRY_PASSWORD, else the Docker config file.
REPOSITORY ?= baton/confluence-datacenter
publish: build
	@test -n "$(REGISTRY)" -a -n "$(TAG)" || { echo "usage: make publish REGISTRY=HOST[:PORT] TAG=TAG [REPOSITORY=$(REPOSITORY)] [SOURCE=URL]" >&2; exit 2; }
	target/debug/baton-confluence-datacenter component push oci://$(REGISTRY)/$(REPOSITORY):$(TAG) \
		--revision "$$(git rev-parse HEAD 2>/dev/null)" $(if $(SOURCE),--source "$(SOURCE)")

## The contract (wit/) as a binary WIT package, pushed with wkg to an OCI registry and tagged with
## its version: make publish-wit REGISTRY=registry.example.com [WIT_REPOSITORY=baton/connector]
## [WKG_FLAGS=--insecure REGISTRY]. Others build against it (docs/wit-versions.md).
WIT_REPOSITORY ?= baton/connector
publish-wit: interop
	@test -n "$(REGISTRY)" || { echo "usage: make publish-wit REGISTRY=HOST[:PORT] [WIT_REPOSITORY=$(WIT_REPOSITORY)] [WKG_FLAGS=...]" >&2; exit 2; }
	@package=$$(scripts/wit-package.sh) && version=$$(basename "$$package" .wasm | sed 's/^baton-connector-//') && \
		target/tools/bin/wkg oci push $(WKG_FLAGS) $(REGISTRY)/$(WIT_REPOSITORY):$$version "$$package" && \
		echo "published $(REGISTRY)/$(WIT_REPOSITORY):$$version"

clean:
	$(CARGO) clean
