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
	$(GO) test -run '^$$' -bench . ./socks ./policy ./frozen ./internal/load ./internal/relay
	$(GO) run ./bench


# `make lib` builds the client's C libraries (docs/libsocks.md) into .build/lib:
# libsocks.so and libsocks.a from the Go client (cgo), libsockswrap.so (plain C,
# LD_PRELOAD), socks.pc. `make install` installs them with socks.h.
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
CC ?= cc
VERSION = $(shell sed -n 's/^const Version = "\(.*\)"/\1/p' internal/version/version.go)

.PHONY: lib install-lib
lib: ## the C libraries: libsocks.so, libsocks.a, libsockswrap.so and socks.pc in .build/lib
	@mkdir -p .build/lib
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=c-shared -o .build/lib/libsocks.so ./lib/libsocks
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=c-archive -o .build/lib/libsocks.a ./lib/libsocks
	rm -f .build/lib/libsocks.h  # cgo's header; socks.h is the API
	$(CC) -O2 -Wall -shared -fPIC -DSOCKS_HELPER='"$(BINDIR)/socks"' -o .build/lib/libsockswrap.so lib/sockswrap/sockswrap.c -ldl -lpthread
	sed 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' lib/libsocks/socks.pc.in > .build/lib/socks.pc

install-lib: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 0755 .build/lib/libsocks.so .build/lib/libsockswrap.so $(DESTDIR)$(LIBDIR)/
	install -m 0644 .build/lib/libsocks.a $(DESTDIR)$(LIBDIR)/
	install -m 0644 lib/libsocks/socks.h $(DESTDIR)$(INCLUDEDIR)/socks.h
	install -m 0644 .build/lib/socks.pc $(DESTDIR)$(LIBDIR)/pkgconfig/socks.pc

install: install-lib
