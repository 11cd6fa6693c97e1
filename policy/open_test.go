package policy_test

import (
	"testing"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/policy"
)

func TestPermitsAnyone(t *testing.T) {
	t.Parallel()
	identLine := permit(anyAddr, anyAddr)
	identLine.Ident = config.IdentStrict
	for _, tc := range []struct {
		name  string
		rules []config.Rule
		want  bool
	}{
		{"permit all", []config.Rule{permit(anyAddr, anyAddr)}, true},
		{"IPv6 only", []config.Rule{permit(cidr("::/0"), anyAddr)}, true},
		{"local network", []config.Rule{permit(cidr("10.0.0.0/8"), anyAddr)}, false},
		{"deny first", []config.Rule{deny(anyAddr, anyAddr), permit(anyAddr, anyAddr)}, false},
		{"identd required", []config.Rule{identLine}, false},
		{"no rules", nil, false},
	} {
		p, err := policy.New(conf(tc.rules...), policy.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.PermitsAnyone(); got != tc.want {
			t.Errorf("%s: PermitsAnyone() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
