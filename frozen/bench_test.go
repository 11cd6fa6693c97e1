package frozen

import "testing"

// BenchmarkDecodeSockd100k decodes a 100,000-rule sockd.fc: the daemon's
// start-up and reload cost for a very large site. The file-bytes metric
// is the size of the file.
func BenchmarkDecodeSockd100k(b *testing.B) {
	data := mustEncode(b, bigSockd(100_000))
	b.ReportMetric(float64(len(data)), "file-bytes")
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		f, err := Decode(data)
		if err != nil || len(f.Sockd.Rules) != 100_000 {
			b.Fatalf("Decode: %v", err)
		}
	}
}

func BenchmarkEncodeSockd100k(b *testing.B) {
	f := bigSockd(100_000)
	for b.Loop() {
		if _, err := Encode(f); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBigFileRoundTrip checks the generated 100,000-rule file (which the
// benchmark uses) is valid and round-trips.
func TestBigFileRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("large file")
	}
	f := bigSockd(100_000)
	data := mustEncode(t, f)
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Sockd.Rules) != len(f.Sockd.Rules) || got.Sockd.Rules[99_999].Text != f.Sockd.Rules[99_999].Text ||
		got.Sockd.Rules[12_346].Dst != f.Sockd.Rules[12_346].Dst {
		t.Errorf("decoded file differs")
	}
}
