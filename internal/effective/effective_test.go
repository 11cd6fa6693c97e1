package effective

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

func testConfig(t *testing.T) *Config {
	t.Helper()
	rules, origin, err := load.SockdText("sockd.conf", []byte("permit 127.0.0.1 255.255.255.255\ndeny 0.0.0.0 0.0.0.0\n"), load.Options{})
	if err != nil {
		t.Fatal(err)
	}
	route := testnet.WriteFileT(t, "sockd.route", "127.0.0.1 192.0.2.0 255.255.255.0\n")
	routes, routesFrom, err := load.Route(route, load.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &Config{Rules: rules, RulesFrom: origin, Routes: routes, RoutesFrom: routesFrom,
		Hits: policy.NewHits(len(rules.Rules), time.Now()), Methods: []socks.Method{socks.MethodNoAuth}}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	c := testConfig(t)
	var b bytes.Buffer
	c.Check(&b)
	for _, want := range []string{"sockd.conf: 2 rules, ok (sha256 ", "sockd.route: 1 routes, ok (sha256 "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
}

func TestWriteAndLog(t *testing.T) {
	t.Parallel()
	c := testConfig(t)
	var b bytes.Buffer
	if err := c.Write(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{"# rules: sockd.conf (sha256 ", "permit 127.0.0.1 255.255.255.255", "# routes: ", "# SOCKS5 methods: "} {
		if !strings.Contains(text, want) {
			t.Errorf("-T text: missing %q in:\n%s", want, text)
		}
	}
	var logs bytes.Buffer
	c.Log(slog.New(slog.NewTextHandler(&logs, nil)))
	for _, want := range []string{`msg="effective configuration"`, `msg="config: permit 127.0.0.1 255.255.255.255"`, `msg="effective routes"`, `msg="route: `} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log: missing %q in:\n%s", want, logs.String())
		}
	}
	c.Routes = nil
	logs.Reset()
	c.Log(slog.New(slog.NewTextHandler(&logs, nil)))
	if !strings.Contains(logs.String(), "no route file") {
		t.Errorf("log without routes:\n%s", logs.String())
	}
}
