# Shoal's entry points. `make test` is the whole set-up and check on a fresh
# Debian machine run as root: it installs the Debian packages the integration
# tests need, checks formatting, runs go vet and the linters, then the tests
# with the race detector. .ci/run is `SHOAL_INTEGRATION=require make test`.
#
# Two modules: the SDK (the root) and the daemons (examples/, its own go.mod
# with a replace to the root, so that etcd and grpc never reach an importer of
# the SDK). Every target runs over both, from the repository root.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
export PATH := $(PATH):/usr/local/go/bin
# Each module is built with its own go.mod, never a workspace that would mix
# the daemons' dependency versions into the SDK's tests.
export GOWORK := off
MODULES := . examples
# each runs a command in every module's directory: $(call each,CMD).
each = for m in $(MODULES); do (cd $$m && $(1)) || exit 1; done

GO ?= go
TOOL := $(GO) tool -modfile=$(CURDIR)/tools/go.mod
# Whole-run budget: CI has 90 minutes and we keep the run under 25.
TEST_TIMEOUT ?= 15m
TESTFLAGS ?=
BENCH ?= .
BENCHCOUNT ?= 6
# Build tags for both modules: seccomp builds libcontainer's syscall filter
# (cgo over libseccomp-dev) into the agent, whose containers otherwise run
# without one. The SDK module has no file that uses it.
GOTAGS ?= seccomp

.PHONY: test deps fmt fmt-check vet lint unit bench bench-kubepeer pilot

test: deps fmt-check vet lint unit

deps:
	@./scripts/debian-deps

# The main job: the whole platform on this machine (examples/pilot). As root
# it installs what it needs first and runs real containers on OVS VLANs;
# otherwise it runs the control plane over simulated nodes and says so.
PILOTFLAGS ?=
pilot:
	@if [ "$$(id -u)" = 0 ]; then ./scripts/debian-deps; fi
	cd examples && $(GO) run -tags=$(GOTAGS) ./pilot $(PILOTFLAGS)

fmt:
	$(TOOL) gofumpt -w .

fmt-check:
	@out=$$($(TOOL) gofumpt -l .); if [ -n "$$out" ]; then echo "gofumpt would change (run make fmt):"; echo "$$out"; exit 1; fi

vet:
	@$(call each,$(GO) vet -tags=$(GOTAGS) ./...)

lint:
	@$(call each,$(TOOL) golangci-lint run --build-tags=$(GOTAGS) --config $(CURDIR)/.golangci.yml ./... && $(TOOL) staticcheck -tags=$(GOTAGS) ./...)

# go test -json feeds internal/cmd/testreport, which prints failures in full,
# every skip with its reason, the real components the tests started, and the
# closing "N passed, N failed, N skipped" line.
unit:
	{ $(GO) test -tags=$(GOTAGS) -race -shuffle=on -timeout $(TEST_TIMEOUT) -json $(TESTFLAGS) ./... || true; \
	  cd examples && $(GO) test -tags=$(GOTAGS) -race -shuffle=on -timeout $(TEST_TIMEOUT) -json $(TESTFLAGS) ./... || true; } \
	  | $(GO) run ./internal/cmd/testreport

# Benchmarks, several runs each so benchstat can quote medians. Record figures
# in BENCHMARKS.md with this command, the machine and the date.
bench:
	{ $(GO) test -tags=$(GOTAGS) -run '^$$' -bench '$(BENCH)' -benchmem -count $(BENCHCOUNT) ./... ; \
	  cd examples && $(GO) test -tags=$(GOTAGS) -run '^$$' -bench '$(BENCH)' -benchmem -count $(BENCHCOUNT) ./... ; } | tee bench.txt
	$(TOOL) benchstat bench.txt

# sched beside kube-scheduler in one process, same fleet, same requests
# (bench/kubepeer: a module of its own, so the SDK never requires Kubernetes,
# and outside make test). The first build fetches k8s.io/kubernetes from the
# module proxy and compiles it: about 6 minutes. Prints the Markdown table of
# BENCHMARKS.md's sched section; runs for a few minutes.
bench-kubepeer:
	cd bench/kubepeer && GOMAXPROCS=2 $(GO) run ./cmd/kubepeer
