# The gateway: two commands for a new user.
#   make demo   build, make a development PKI, run agency-mock + gatewayd, drop samples, show the outcome
#   make test   build and run the whole test suite (what CI runs)
#   make bench  release build, every benchmark, one "name: value unit" line per figure (QUICK=1 for a short run)

SHELL := /bin/bash
SWIFT ?= swift
# One build at a time on this 2-core machine (helpers and editors share it).
LOCK := flock /tmp/gateway-swift-build.lock

.PHONY: deps build test demo bench clean

deps:
	@bash scripts/install-deps.sh

build: deps
	$(LOCK) $(SWIFT) build

# no_proxy=*: the proxy tests check that a configured proxy is used whatever no_proxy says
# (set for the whole run: a test must not change the environment while others run).
test: deps
	$(LOCK) $(SWIFT) build --build-tests
	no_proxy='*' $(LOCK) $(SWIFT) test --skip-build

demo: deps
	$(LOCK) $(SWIFT) build
	bash scripts/demo.sh

bench: deps
	$(LOCK) $(SWIFT) build -c release
	bash scripts/bench.sh $(if $(QUICK),--quick,)

clean:
	rm -rf .build .demo .bench
