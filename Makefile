# kubectl-qxsms. `make demo` runs the main job on the local cluster; `make test`
# runs every test (unit, then e2e against the local control plane).
SHELL := /usr/bin/env bash
GO ?= go
# Every build, test and tool here uses the toolchain go.mod pins (fetched through
# the module proxy on first use), whatever go is installed and whatever its
# go.env says; a module that needs a newer go still gets it.
GO_TOOLCHAIN := $(shell awk '$$1=="toolchain"{print $$2; exit}' go.mod)
export GOTOOLCHAIN := $(if $(GO_TOOLCHAIN),$(GO_TOOLCHAIN)+auto,auto)
VERSION ?= v0.1.0
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PKG := github.com/qxsms/kubectl-qxsms
LDFLAGS := -s -w -X $(PKG)/pkg/buildinfo.Version=$(VERSION) -X $(PKG)/pkg/buildinfo.Commit=$(COMMIT)
BIN := bin/kubectl-qxsms
export KUBECONFIG_LOCAL := $(CURDIR)/.cluster/kubeconfig
E2E_TIMEOUT ?= 55m

FUZZTIME ?= 20000x

PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
RELEASE_URL ?= https://gitlab.com/qxsms/kubectl-qxsms/-/releases/$(VERSION)/downloads
# Release builds embed no commit, so the archives and the checked-in krew
# manifest are reproducible from any checkout of the same version.
DIST_LDFLAGS := -s -w -X $(PKG)/pkg/buildinfo.Version=$(VERSION) -X $(PKG)/pkg/buildinfo.Commit=release

.PHONY: all build unit fuzz e2e test lint vulncheck demo cluster-up cluster-down tools bench dist validate-krew-manifest clean image gitlab-ci-local

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/kubectl-qxsms

## Unit tests: fakes and in-memory kustomize, no cluster; the coverage of each package.
unit:
	$(GO) test -race -count=1 -cover ./...
	cd hack && $(GO) test -count=1 ./...

## Fuzzing, bounded: name validation, overlay discovery, NFS volumeHandle parsing.
## Bounded by a count of executions, not a duration: a duration puts a deadline
## on the workers' context, and a worker still busy at the deadline fails the
## run with "context deadline exceeded" (seen in CI) although nothing crashed.
FUZZFLAGS := -fuzztime $(FUZZTIME) -fuzzminimizetime 0s
fuzz:
	$(GO) test ./pkg/overlays -run '^$$' -fuzz '^FuzzValidateName$$' $(FUZZFLAGS)
	$(GO) test ./pkg/overlays -run '^$$' -fuzz '^FuzzSelect$$' $(FUZZFLAGS)
	$(GO) test ./pkg/volumes -run '^$$' -fuzz '^FuzzParseVolumeHandle$$' $(FUZZFLAGS)

## End-to-end tests: the real binary through the real kubectl against the local cluster.
## The full log is in .e2e.log; it is printed whole only when a test fails.
## The reliability tests write their figures to RELIABILITY.md.
e2e: build
	@set -o pipefail; RELIABILITY_OUT=$(CURDIR)/RELIABILITY.md $(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -v ./test/e2e/ > .e2e.log 2>&1; rc=$$?; \
	  if [ $$rc -ne 0 ]; then cat .e2e.log; else grep -E '^(--- |PASS|FAIL|ok)' .e2e.log; fi; exit $$rc

test: lint unit fuzz dist vulncheck validate-krew-manifest e2e

lint:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/...
	$(GO) test -count=1 ./internal/layers
	cd hack && $(GO) vet ./...
	@sc=$$(hack/check-tools.sh staticcheck) && set -x && \
	  $$sc ./... && $$sc -tags e2e ./test/... && cd hack && $$sc ./...

## Known vulnerabilities the code calls, in the source and in every release binary;
## the database comes from the golang.org/x/vulndb pin in hack/check-tools.sh.
vulncheck: dist
	hack/vulncheck.sh dist/bin/*/kubectl-qxsms*

BENCH_INSTANCES ?= 50
BENCH_RESTARTS ?= 20
BENCH_PVS ?= 5000
BENCH_REPEAT ?= 3
# Round-trip times (ms) between the clients and the API server, through a
# latency proxy (0: direct); the scaling rows' instance counts, and the RTTs
# they run at. Scaling at RTT 0 too (BENCH_SCALE_RTT=0,20) adds about 6
# minutes to a run of about 40, mostly the namespaces' deletion at the end.
BENCH_RTT ?= 0,20,50
BENCH_SCALE ?= 10,50,150
BENCH_SCALE_RTT ?= 20
BENCH_CANARY_SOAK ?= 10s
BENCH_OUT ?= $(CURDIR)/BENCHMARKS.md

## Benchmarks against the kubectl workflow, same run, same cluster: writes BENCHMARKS.md.
bench: build cluster-up
	cd hack && $(GO) run ./bench -repo $(CURDIR) -tools "$$(./build-tools.sh)" -plugin-dir $(CURDIR)/bin \
		-kubeconfig $(CURDIR)/.cluster/kubeconfig -cluster-dir $(CURDIR)/.cluster -out $(BENCH_OUT) \
		-instances $(BENCH_INSTANCES) -restarts $(BENCH_RESTARTS) -pvs $(BENCH_PVS) -repeat $(BENCH_REPEAT) \
		-rtt $(BENCH_RTT) -scale $(BENCH_SCALE) -scale-rtt $(BENCH_SCALE_RTT) \
		-canary-soak $(BENCH_CANARY_SOAK)
	@{ printf '\n## Go benchmarks (client-side hot paths)\n\n```\n'; \
	   $(GO) test -run '^$$' -bench . -benchmem -benchtime 20x ./k8s ./pkg/volumes | grep -E '^Benchmark'; \
	   printf '```\n'; } >> $(BENCH_OUT)

## Release archives for every platform, their .sha256 files, and krew-manifest.yaml.
dist:
	rm -rf dist && mkdir -p dist
	@for p in $(PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  echo "building $$os/$$arch"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(DIST_LDFLAGS)" \
	    -o dist/bin/$$os-$$arch/kubectl-qxsms$$ext ./cmd/kubectl-qxsms || exit 1; done
	cd hack && $(GO) run ./dist -version $(VERSION) -dir $(CURDIR)/dist -root $(CURDIR) \
		-url '$(RELEASE_URL)' -manifest $(CURDIR)/krew-manifest.yaml

## The CI image k8s/gitlab-ci.yml runs: kubectl, kubectl-qxsms and busybox, for linux/amd64
## and linux/arm64, as an OCI image layout tarball, built without a Docker daemon and
## reproducibly (hack/image). Pushing it: RELEASING.md.
IMAGE := dist/kubectl-qxsms_$(VERSION)_image.oci.tar
image:
	@for arch in amd64 arm64; do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "$(DIST_LDFLAGS)" \
	    -o dist/bin/linux-$$arch/kubectl-qxsms ./cmd/kubectl-qxsms || exit 1; done
	inputs=$$(hack/image/inputs.sh amd64 arm64) && cd hack && $(GO) run ./image -inputs "$$inputs" \
		-bin-dir $(CURDIR)/dist/bin -version $(VERSION) -template $(CURDIR)/k8s/gitlab-ci.yml -out $(CURDIR)/$(IMAGE) -layer-cache "$$inputs/layers" \
		-revision "$$(git rev-parse HEAD 2>/dev/null || echo unknown)" -created "$$(git log -1 --format=%ct 2>/dev/null || echo 0)"

## gitlab-ci-local, the e2e suite's GitLab CI implementation, from hack/gitlab-ci-local's lockfile.
gitlab-ci-local:
	hack/gitlab-ci-local/install.sh

## krew's own validator, built from sigs.k8s.io/krew; it wants the file named after the plugin.
validate-krew-manifest:
	@tmp=$$(mktemp -d) && cp krew-manifest.yaml $$tmp/qxsms.yaml && \
	  "$$(hack/build-tools.sh validate-krew-manifest)/validate-krew-manifest" -manifest $$tmp/qxsms.yaml -skip-install; \
	  rc=$$?; rm -rf $$tmp; exit $$rc

tools:
	hack/build-tools.sh

cluster-up:
	hack/cluster-up.sh

cluster-down:
	hack/cluster-down.sh

demo: build cluster-up
	hack/demo.sh

clean: cluster-down
	rm -rf bin dist .e2e.log
