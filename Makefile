# DataKit for Go. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
PKGS  := ./...
# Test budget: CI has 90 minutes, we aim for well under 15.
TEST_TIMEOUT ?= 14m
FUZZTIME ?= 20s

.PHONY: help build test run status run-deps bench fuzz check deps fmt vet image images
help:
	@echo "make build  - build every package and command into ./bin"
	@echo "make test   - install what the tests need, then run all tests with -race"
	@echo "make run    - run the main job: the self-CI (cmd/selfci) on this checkout, web UI on $(RUN_LISTEN)"
	@echo "make status - the statuses make run's self-CI wrote (also while it runs)"
	@echo "make bench  - run the benchmarks (figures as ratios against git / direct calls)"
	@echo "make fuzz   - run every fuzz target for FUZZTIME ($(FUZZTIME)) each"
	@echo "make check  - gofmt, go vet, staticcheck (if available), tests with -race, deps test"
	@echo "make image  - the datakit server as a Docker image FROM scratch (tag: datakit)"
	@echo "make images - the Quick Start images: datakit-server, -bridge, -client, -ci-base, -selfci (deploy/)"

build:
	$(GO) build $(PKGS)
	@mkdir -p bin && $(GO) build -o bin/ ./cmd/... ./examples/...

# deps installs what the tests need, idempotently: git (object cross-checks,
# fsck, git daemon for remotes), diod's client tools and the linux9p VM
# cache (the Linux kernel's 9p client), for the 9P server's interoperability
# tests, Debian's chromium for the web UI's browser tests, busybox-static and
# gcc for the images made from this machine (the Docker tests, the self-CI's
# Go image), and docker-compose for the Quick Start's test.
LINUX9P ?= $(firstword $(wildcard ../shared/tools/linux9p/linux9p shared/tools/linux9p/linux9p))
deps:
	@command -v git >/dev/null || { apt-get update -qq && apt-get install -y -qq git; }
	@test -x /usr/sbin/diodls || apt-get install -y -qq diod >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq diod; }
	@if [ -n "$(LINUX9P)" ]; then $(LINUX9P) --prepare >/dev/null || echo "linux9p --prepare failed"; fi
	@dpkg -s busybox-static >/dev/null 2>&1 || apt-get install -y -qq busybox-static >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq busybox-static; }
	@dpkg -s chromium >/dev/null 2>&1 || apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }
	@command -v gcc >/dev/null || apt-get install -y -qq gcc >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq gcc; }
	@command -v docker-compose >/dev/null || apt-get install -y -qq docker-compose >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq docker-compose; }

test: deps
	$(GO) test -race -timeout $(TEST_TIMEOUT) $(PKGS)

# images builds the Quick Start images (deploy/Dockerfile's targets:
# datakit-server, -bridge, -client, -ci-base, -selfci) from this machine,
# with no registry; deploy/docker-compose.yml runs them (docs/operations.md).
images: run-deps
	$(GO) run ./cmd/selfci images

# image builds the server statically and packs it FROM scratch: no
# registry is needed.
image:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/datakit-static ./cmd/datakit
	docker build -t datakit .

# run tests this very checkout with its own CI, cmd/selfci (package
# selfci): the local bridge mirrors its branches, tags and refs/pull/N/head
# refs into an embedded store in .state/selfci, and every target gets the
# unit tests by area, vet, gofmt, the examples, the tutorial and the
# server's Docker image. The Go jobs run in a Go image made from this
# machine's toolchain when Docker answers, else on the host; results are
# kept in the store, so a second run reuses every finished one. RUN_CANARY
# limits it to the current branch; RUN_CANARY= tests every target.
RUN_LISTEN ?= 127.0.0.1:8080
RUN_CANARY ?= $(shell b=$$(git branch --show-current 2>/dev/null); [ -n "$$b" ] && echo "--canary dkgo/datakit/heads/$$b")
RUN_FLAGS ?=
# The CI is built, then run in place of the shell (exec): Ctrl-C reaches it
# alone and make reports its exit status (0 after a clean stop), where go
# run, interrupted too, would exit 1.
run: run-deps
	@mkdir -p bin && $(GO) build -o bin/selfci ./cmd/selfci
	exec bin/selfci --src "$(CURDIR)" --local-repo "dkgo/datakit:$(CURDIR)" \
		--state-dir "$(CURDIR)/.state/selfci" --work-dir "$(CURDIR)/.state/selfci-work" \
		--listen $(RUN_LISTEN) $(RUN_CANARY) $(RUN_FLAGS)

# status lists the statuses of the targets make run tests (the same
# --canary), from its store; it works while make run runs.
status:
	@mkdir -p bin && $(GO) build -o bin/selfci ./cmd/selfci
	@bin/selfci status --state-dir "$(CURDIR)/.state/selfci" $(RUN_CANARY)

# run-deps installs what the self-CI's Go image is made of, idempotently:
# git, a C compiler (go test -race) and a static busybox.
run-deps:
	@command -v git >/dev/null || { apt-get update -qq && apt-get install -y -qq git; }
	@command -v gcc >/dev/null || apt-get install -y -qq gcc >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq gcc; }
	@dpkg -s busybox-static >/dev/null 2>&1 || apt-get install -y -qq busybox-static >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq busybox-static; }

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s -timeout 30m ./dkstore/... ./ninep/...
	$(GO) test -run '^$$' -bench HeadUpdate -benchtime 200x -timeout 30m ./ci
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 30m ./ci/cache ./ci/docker ./ci/livelog ./ci/pool ./ci/web

fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

check: fmt vet deps
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -version >/dev/null 2>&1; then \
	  $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS); \
	else echo "staticcheck not available from the module proxy; skipped"; fi
	$(GO) test -race -timeout $(TEST_TIMEOUT) $(PKGS)
	$(GO) test -run TestDependencyDirection .
