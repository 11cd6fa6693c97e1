package socks

import "testing"

func BenchmarkParseV4Request(b *testing.B) {
	wire := append([]byte{4, 1, 0, 80, 10, 0, 0, 1}, "alice\x00"...)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseV4Request(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseV4aRequest(b *testing.B) {
	wire := append([]byte{4, 1, 0, 80, 0, 0, 0, 1}, "alice\x00example.com\x00"...)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseV4Request(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseV5Request(b *testing.B) {
	b.Run("ipv4", func(b *testing.B) {
		wire := []byte{5, 1, 0, 1, 93, 184, 216, 34, 0, 80}
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := ParseV5Request(wire); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("domain", func(b *testing.B) {
		wire := append([]byte{5, 1, 0, 3, 11}, "example.com\x00\x50"...)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := ParseV5Request(wire); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendV5Reply(b *testing.B) {
	rep := V5Reply{Code: V5Succeeded, Bound: Addr{IP: ip("192.0.2.1"), Port: 40000}}
	buf := make([]byte, 0, MaxV5RequestLen)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AppendV5Reply(buf[:0], rep); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseAllocs pins the allocation budget the benchmarks report: at
// most one allocation (the copied string) per request.
func TestParseAllocs(t *testing.T) {
	v4 := append([]byte{4, 1, 0, 80, 10, 0, 0, 1}, "alice\x00"...)
	v4a := append([]byte{4, 1, 0, 80, 0, 0, 0, 1}, "alice\x00example.com\x00"...)
	v5 := []byte{5, 1, 0, 1, 93, 184, 216, 34, 0, 80}
	v5name := append([]byte{5, 1, 0, 3, 11}, "example.com\x00\x50"...)
	for name, f := range map[string]func(){
		"v4":      func() { ParseV4Request(v4) },
		"v4a":     func() { ParseV4Request(v4a) },
		"v5":      func() { ParseV5Request(v5) },
		"v5 name": func() { ParseV5Request(v5name) },
	} {
		if n := testing.AllocsPerRun(100, f); n > 1 {
			t.Errorf("%s: %v allocs per parse, want at most 1", name, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { ParseV5Request(v5) }); n != 0 {
		t.Errorf("v5 IPv4 request: %v allocs per parse, want 0", n)
	}
}
