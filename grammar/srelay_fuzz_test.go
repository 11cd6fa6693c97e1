package grammar

import (
	"testing"

	"github.com/sockd/sockd/policy"
)

// FuzzSrelay: the srelay.conf compiler never panics, its diagnostics are
// well formed (position, source line, sorted, one error per line), and
// what compiles is accepted by the routing policy.
func FuzzSrelay(f *testing.F) {
	seedFuzz(f, "srelay.conf")
	f.Add([]byte("[::1/64] 1- [::1] 1/H a 2/4\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		conf, diags := ParseSrelay("srelay.conf", src, testOptions())
		checkInvariants(t, src, diags)
		if conf == nil {
			if !diags.HasErrors() {
				t.Fatal("no model and no error")
			}
			return
		}
		if _, err := policy.NewClient(conf, policy.Options{}); err != nil {
			t.Fatalf("compiled rules refused by the policy: %v", err)
		}
	})
}
