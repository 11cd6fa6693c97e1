package clientconf

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/internal/testnet"
)

var discard = slog.New(slog.DiscardHandler)

// TestNoneIsNil: without a client configuration there is no Conf, and
// its reports print nothing.
func TestNoneIsNil(t *testing.T) {
	c, err := Load(Options{}, discard)
	if err != nil || c != nil {
		t.Fatalf("Load without a path: %v, %v; want nil, nil", c, err)
	}
	var b bytes.Buffer
	c.Report(&b)
	if err := c.WriteEffective(&b); err != nil || b.Len() != 0 {
		t.Errorf("nil Conf wrote %q, %v", b.String(), err)
	}
	c.LogLoaded(discard)
	c.Dump(discard)
}

// TestBrokenCredentialsFailWithoutRules: the credentials file is read
// even when no client configuration uses it, so that a broken one stops
// the load.
func TestBrokenCredentialsFailWithoutRules(t *testing.T) {
	if _, err := Load(Options{Credentials: filepath.Join(t.TempDir(), "missing")}, discard); err == nil {
		t.Fatal("a missing credentials file loaded")
	}
}

func TestReportNeedsDefault(t *testing.T) {
	t.Setenv("SOCKS_SERVER", "")
	path := testnet.WriteFileT(t, "socks.conf", "direct 127.0.0.2 255.255.255.255\nsockd ALL\n")
	c, err := Load(Options{Path: path}, discard)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	c.Report(&b)
	want := path + ":2: warning: this sockd line names no server (@=) and there is no default server (--default-server or SOCKS_SERVER): its requests will be refused\n    sockd ALL\n"
	if !strings.HasSuffix(b.String(), want) || !strings.HasPrefix(b.String(), path+": 2 client rules, ok (sha256 ") {
		t.Errorf("report:\n%s\nwant it to end with:\n%s", b.String(), want)
	}
}

func TestWriteEffectiveNamesDefaultServer(t *testing.T) {
	u, err := client.ParseUpstream("192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	path := testnet.WriteFileT(t, "socks.conf", "direct 127.0.0.0/8\nsockd ALL\n")
	c, err := Load(Options{Path: path, DefaultServers: []client.Upstream{u}}, discard)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.WriteEffective(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	if !strings.HasPrefix(got, "# client rules: "+path+" (sha256 "+c.Origin.Checksum+", 2 rules)\n") ||
		!strings.HasSuffix(got, "# default server: socks4://192.0.2.1:1080\n") {
		t.Errorf("effective:\n%s", got)
	}
	var r bytes.Buffer
	c.Report(&r)
	if strings.Contains(r.String(), "warning") || !strings.Contains(r.String(), "default server for sockd lines without @=: socks4://192.0.2.1:1080\n") {
		t.Errorf("report:\n%s", r.String())
	}
}
