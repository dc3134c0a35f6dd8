# The commands README.md and .ci/run use. `make test` is the one test
# command: formatting, vet, and the whole suite under the race detector.
GO ?= go

.PHONY: test demo bench build vet fmt cross

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

# The end-to-end benchmark: 200,000 orders from an HTTP source through the
# durable queue to a counting sink. See bench/README.md for options.
bench:
	$(GO) run ./bench -records 200000
