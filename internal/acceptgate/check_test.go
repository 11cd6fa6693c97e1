package acceptgate

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/testnet"
)

// TestCheckRefuses: a refusal is logged with the client, the address it
// reached and the check's reason; an accepted client is not logged.
func TestCheckRefuses(t *testing.T) {
	t.Parallel()
	logs := &testnet.Buffer{}
	log := logline.New(logs, logline.FormatText, slog.LevelDebug)
	local := netip.MustParseAddrPort("127.0.0.1:1080")
	c := Check(func(client, _ netip.AddrPort) (bool, string) {
		return client.Addr() != netip.MustParseAddr("10.0.0.9"), "hosts.deny line 1"
	})
	if c.Refuses(log, netip.MustParseAddrPort("10.0.0.8:4000"), local) {
		t.Fatal("an allowed client refused")
	}
	if logs.String() != "" {
		t.Fatalf("an allowed client logged: %s", logs.String())
	}
	if !c.Refuses(log, netip.MustParseAddrPort("10.0.0.9:4000"), local) {
		t.Fatal("a denied client accepted")
	}
	for _, want := range []string{"refused -- connect from 10.0.0.9 by host access rules", "client=10.0.0.9:4000", "server=127.0.0.1:1080", `reason="hosts.deny line 1"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q: %s", want, logs.String())
		}
	}
}
