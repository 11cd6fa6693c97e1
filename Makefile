# The everyday entry points. `make test` is what CI runs (.ci/run).
GO ?= go
PREFIX ?= /usr/local

.PHONY: run test check build bench fuzz

run: ## the daemon, on the embedded loopback-only default (127.0.0.1:1080)
	$(GO) run ./cmd/sockd

test: ## every test: installs the real peers it needs, then vet, gofmt, race tests
	scripts/install-test-deps
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) test -race -count=1 -timeout 20m ./...

build:
	$(GO) build ./...

bench: ## Go benchmarks of the codecs, index, loader and relay, then sockd against danted, microsocks and direct: one table (not a test; about 6 minutes)
	$(GO) test -run '^$$' -bench . ./socks ./policy ./frozen ./internal/load ./internal/server
	$(GO) run ./bench
