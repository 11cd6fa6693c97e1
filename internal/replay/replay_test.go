package replay

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/policy"
)

// FuzzRead feeds arbitrary logs to the reader: it must never panic, and
// every line is counted exactly once, as a request line, an other line
// or an unparsable one (a session's closing line is neither).
// TestOverlappingSessions: two sessions of the same text open at once,
// with nothing but the pid to tell lines apart, are two requests.
func TestOverlappingSessions(t *testing.T) {
	p, err := policy.New(&config.SockdConf{Rules: []config.Rule{{Action: config.Permit, Pos: config.Pos{Line: 1}}}}, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := "" +
		"Dec  6 04:00:01 gw sockd[9]: connected -- Connect from ann(unknown)@10.0.0.1 to 192.0.2.1 (80)\n" +
		"Dec  6 04:00:02 gw sockd[9]: connected -- Connect from ann(unknown)@10.0.0.1 to 192.0.2.1 (80)\n" +
		"Dec  6 04:00:03 gw sockd[9]: terminated -- Connect from ann(unknown)@10.0.0.1 to 192.0.2.1 (80). 1 bytes from 10.0.0.1, 2 bytes from 192.0.2.1\n" +
		"Dec  6 04:00:04 gw sockd[9]: terminated -- Connect from ann(unknown)@10.0.0.1 to 192.0.2.1 (80). 1 bytes from 10.0.0.1, 2 bytes from 192.0.2.1\n" +
		"Dec  6 04:00:05 gw sockd[9]: terminated -- Connect from ann(unknown)@10.0.0.1 to 192.0.2.1 (80). 1 bytes from 10.0.0.1, 2 bytes from 192.0.2.1\n"
	r := Replayer{New: p}
	if err := r.Read("log", strings.NewReader(log)); err != nil {
		t.Fatal(err)
	}
	// Two sessions, and a closing line whose opening line is not in the
	// log (it was rotated away): three requests.
	if s := r.Report().Summary; s.Total != 3 || s.Unchanged != 3 {
		t.Fatalf("%+v", s)
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("2026-12-06T04:00:01.1Z INFO connected -- Connect from ann(unknown)@127.0.0.1 to 127.0.0.1 (80) client=127.0.0.1:40001\n"))
	f.Add([]byte(`{"msg":"refused -- Bind from a(b)@c for d","client":"1.2.3.4:5","line":3}` + "\n"))
	f.Add([]byte("Dec  6 04:00:05 gw sockd[77]: terminated -- UDP associate from (x)@y for z.\n"))
	f.Add([]byte("refused -- Connect from )@(\n{\n"))
	p, err := policy.New(&config.SockdConf{Rules: []config.Rule{{Action: config.Permit, Pos: config.Pos{Line: 1}}}}, policy.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := Replayer{New: p, Old: p}
		if err := r.Read("fuzz", bytes.NewReader(data)); err != nil {
			return // an over-long line
		}
		s := r.Report().Summary
		if s.Total+s.Other+s.Unparsable > s.Lines {
			t.Fatalf("%+v", s)
		}
		if s.Unchanged != s.Total {
			t.Fatalf("the same rules changed a decision: %+v", s)
		}
	})
}
