# The commands README.md and .ci/run use. `make test` is the one test
# command: formatting, vet, and the whole suite under the race detector.
GO ?= go

.PHONY: test demo bench build vet fmt cross chaos docs

test: fmt vet
	$(GO) test -race -count=1 -timeout 20m ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

build:
	$(GO) build -o bin/ferry ./cmd/ferry

# ferry ships for Windows and macOS too: everything must compile there
# (platform code such as internal/liveness sits behind build tags).
cross:
	GOOS=windows GOARCH=amd64 $(GO) build ./...
	GOOS=darwin GOARCH=arm64 $(GO) build ./...

demo:
	$(GO) run ./cmd/ferry demo

# The connector reference pages, generated from the kinds' config types
# (internal/connector/catalog fails its test when they are stale).
docs:
	$(GO) run ./cmd/ferry connectors --write-docs docs/connectors

# The long chaos run: 300 SIGKILLs per variant instead of the suite's 20
# (test/e2e/chaos_test.go). Replay a failure with CHAOS_SEED=<seed it printed>.
CHAOS_KILLS ?= 300
chaos:
	FERRY_CHAOS_KILLS=$(CHAOS_KILLS) FERRY_CHAOS_SEED=$(CHAOS_SEED) $(GO) test -count=1 -timeout 60m -run 'TestChaos' -v ./test/e2e

# The end-to-end benchmark: 200,000 orders from an HTTP source through the
# durable queue to a counting sink. See bench/README.md for options.
bench:
	$(GO) run ./bench -records 200000
