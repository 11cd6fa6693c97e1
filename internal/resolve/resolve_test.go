package resolve

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/sockd/sockd/internal/testnet"
)

// zone is what the fake DNS server answers: forward names (with the
// trailing dot) to addresses, and reverse names (in-addr.arpa) to names.
type zone struct {
	addrs map[string][]netip.Addr
	ptrs  map[string][]string
}

// serve answers DNS queries on a loopback UDP socket from z until the test
// ends, and returns a resolver that asks it alone.
func (z zone) serve(t *testing.T) *net.Resolver {
	t.Helper()
	addr := testnet.ServeUDPT(t, "127.0.0.1:0", z.answer).LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// answer is z's reply to the DNS query q, nil for a malformed one.
func (z zone) answer(q []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	question, err := p.Question()
	if err != nil {
		return nil
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionAvailable: true})
	b.EnableCompression()
	b.StartQuestions()
	b.Question(question)
	b.StartAnswers()
	rh := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 60}
	for _, a := range z.addrs[question.Name.String()] {
		switch {
		case question.Type == dnsmessage.TypeA && a.Is4():
			b.AResource(rh, dnsmessage.AResource{A: a.As4()})
		case question.Type == dnsmessage.TypeAAAA && a.Is6():
			b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
	}
	if question.Type == dnsmessage.TypePTR {
		for _, name := range z.ptrs[question.Name.String()] {
			b.PTRResource(rh, dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(name)})
		}
	}
	msg, err := b.Finish()
	if err != nil {
		return nil
	}
	return msg
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAddr(t *testing.T) {
	t.Parallel()
	r := zone{addrs: map[string][]netip.Addr{
		"dual.example.":   {netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.1")},
		"v6only.example.": {netip.MustParseAddr("2001:db8::2")},
	}}.serve(t)
	ctx := testContext(t)
	for name, want := range map[string]string{"dual.example": "192.0.2.1", "v6only.example": "2001:db8::2"} {
		got, err := Addr(ctx, r, name)
		if err != nil || got.String() != want {
			t.Errorf("Addr(%s) = %v, %v; want %s", name, got, err, want)
		}
	}
	if _, err := Addr(ctx, r, "none.example"); err == nil {
		t.Error("a name without addresses resolved")
	}
}

func TestConfirmedNames(t *testing.T) {
	t.Parallel()
	ip := netip.MustParseAddr("192.0.2.7")
	r := zone{
		addrs: map[string][]netip.Addr{
			"host.example.":  {ip},
			"alias.example.": {netip.MustParseAddr("192.0.2.8"), ip},
			"liar.example.":  {netip.MustParseAddr("192.0.2.9")},
		},
		ptrs: map[string][]string{"7.2.0.192.in-addr.arpa.": {"host.example.", "liar.example.", "alias.example."}},
	}.serve(t)
	ctx := testContext(t)
	got := ConfirmedNames(ctx, r, ip, 20)
	slices.Sort(got)
	if want := []string{"alias.example.", "host.example."}; !slices.Equal(got, want) {
		t.Errorf("ConfirmedNames = %q, want %q", got, want)
	}
	if got := ConfirmedNames(ctx, r, ip, 1); len(got) != 1 {
		t.Errorf("limit 1: %q", got)
	}
	if got := ConfirmedNames(ctx, r, netip.MustParseAddr("192.0.2.200"), 20); len(got) != 0 {
		t.Errorf("an address without reverse names: %q", got)
	}
}
