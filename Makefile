# The everyday entry points. `make test` is what CI runs (.ci/run).
GO ?= go
PREFIX ?= /usr/local

.PHONY: run test check build bench fuzz install man

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

# `make install` puts the binaries, the systemd units, the man pages and
# the shell completions under PREFIX (default /usr/local), below DESTDIR
# when packaging. The units' paths are rewritten for PREFIX.
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
TOOLS = make_sockdfc dump_sockdfc make_sockdfr dump_sockdfr make_socksfc dump_socksfc socks

install: ## binaries, units, man pages and completions under $(DESTDIR)$(PREFIX)
	@mkdir -p .build
	$(GO) build -trimpath -o .build/ ./cmd/...
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/default \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 .build/sockd $(DESTDIR)$(SBINDIR)/sockd
	ln -sf sockd $(DESTDIR)$(SBINDIR)/rsockd
	ln -sf sockd $(DESTDIR)$(SBINDIR)/srelay
	for t in $(TOOLS); do install -m 0755 .build/$$t $(DESTDIR)$(BINDIR)/$$t || exit 1; done
	for u in sockd.service sockd.socket; do \
	  sed 's|/usr/local/sbin/|$(SBINDIR)/|g; s|/etc/default/|$(SYSCONFDIR)/default/|g' dist/systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; done
	[ -e $(DESTDIR)$(SYSCONFDIR)/default/sockd ] || install -m 0644 dist/systemd/sockd.default $(DESTDIR)$(SYSCONFDIR)/default/sockd
	install -m 0644 docs/man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 docs/man/*.8 $(DESTDIR)$(MANDIR)/man8/
	.build/sockd completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/sockd
	.build/sockd completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_sockd
	.build/sockd completion fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/sockd.fish

man: ## regenerate the section 8 pages from the commands
	$(GO) run ./internal/cli/genman docs/man

fuzz: ## every native fuzz target for FUZZTIME each (default 30s)
	scripts/fuzz-all

bench: ## Go benchmarks of the codecs, index, loader and relay, then sockd against danted, microsocks and direct: one table (not a test; about 6 minutes)
	$(GO) test -run '^$$' -bench . ./socks ./policy ./frozen ./internal/load ./internal/server
	$(GO) run ./bench

