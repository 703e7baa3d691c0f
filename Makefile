# Shoal's entry points. `make test` is the whole set-up and check on a fresh
# Debian machine run as root: it installs the Debian packages the integration
# tests need, checks formatting, runs go vet and the linters, then the tests
# with the race detector. .ci/run is `SHOAL_INTEGRATION=require make test`.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
export PATH := $(PATH):/usr/local/go/bin

GO ?= go
TOOL := $(GO) tool -modfile=tools/go.mod
# Whole-run budget: CI has 90 minutes and we keep the run under 25.
TEST_TIMEOUT ?= 15m
TESTFLAGS ?=
BENCH ?= .
BENCHCOUNT ?= 6

.PHONY: test deps fmt fmt-check vet lint unit bench bench-kubepeer

test: deps fmt-check vet lint unit

deps:
	@./scripts/debian-deps

fmt:
	$(TOOL) gofumpt -w .

fmt-check:
	@out=$$($(TOOL) gofumpt -l .); if [ -n "$$out" ]; then echo "gofumpt would change (run make fmt):"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint:
	$(TOOL) golangci-lint run ./...
	$(TOOL) staticcheck ./...

# go test -json feeds internal/cmd/testreport, which prints failures in full,
# every skip with its reason, the real components the tests started, and the
# closing "N passed, N failed, N skipped" line.
unit:
	$(GO) test -race -shuffle=on -timeout $(TEST_TIMEOUT) -json $(TESTFLAGS) ./... | $(GO) run ./internal/cmd/testreport

# Benchmarks, several runs each so benchstat can quote medians. Record figures
# in BENCHMARKS.md with this command, the machine and the date.
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(BENCHCOUNT) ./... | tee bench.txt
	$(TOOL) benchstat bench.txt

# sched beside kube-scheduler in one process, same fleet, same requests
# (bench/kubepeer: a module of its own, so the SDK never requires Kubernetes,
# and outside make test). The first build fetches k8s.io/kubernetes from the
# module proxy and compiles it: about 6 minutes. Prints the Markdown table of
# BENCHMARKS.md's sched section; runs for a few minutes.
bench-kubepeer:
	cd bench/kubepeer && GOMAXPROCS=2 $(GO) run ./cmd/kubepeer
