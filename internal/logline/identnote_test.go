package logline

import (
	"net/netip"
	"testing"

	"github.com/sockd/sockd/policy"
)

// TestIdentNote words every identd outcome: the client is named by its
// address, unmapped from IPv6, as 4.3 named it.
func TestIdentNote(t *testing.T) {
	req := &policy.Request{SrcIP: netip.MustParseAddr("::ffff:192.0.2.7"), User: "bob"}
	for _, tc := range []struct {
		outcome   policy.IdentOutcome
		identUser string
		want      string
	}{
		{policy.IdentNotAsked, "", ""},
		{policy.IdentConfirmed, "bob", ""},
		{policy.IdentMismatch, "mallory", "*Alert*: real user is mallory, not bob"},
		{policy.IdentUnreachable, "", "cannot connect to identd on 192.0.2.7"},
		{policy.IdentMalformed, "", "cannot connect to identd on 192.0.2.7"},
		{policy.IdentFailed, "", "cannot connect to identd on 192.0.2.7"},
	} {
		d := &policy.Decision{Ident: tc.outcome, IdentUser: tc.identUser}
		if got := IdentNote(d, req); got != tc.want {
			t.Errorf("outcome %d: %q, want %q", tc.outcome, got, tc.want)
		}
	}
}
