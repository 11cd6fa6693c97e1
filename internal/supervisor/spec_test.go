package supervisor

import "testing"

func TestClientShare(t *testing.T) {
	for _, c := range []struct{ max, workers int }{{0, 3}, {10, 3}, {7, 7}, {100, 4}, {5, 2}} {
		sum := 0
		for k := 1; k <= c.workers; k++ {
			s := ClientShare(c.max, c.workers, k)
			if c.max > 0 && (s < c.max/c.workers || s > c.max/c.workers+1) {
				t.Errorf("ClientShare(%d, %d, %d) = %d: uneven", c.max, c.workers, k, s)
			}
			sum += s
		}
		if sum != c.max {
			t.Errorf("shares of %d over %d workers add up to %d", c.max, c.workers, sum)
		}
	}
}

func TestParseWorkerSpec(t *testing.T) {
	w := Spec{Index: 2, Workers: 3, Listeners: 2, LogFile: true}
	got, err := ParseSpec(w.String())
	if err != nil || got != w {
		t.Fatalf("round trip of %q: %+v, %v", w.String(), got, err)
	}
	for _, bad := range []string{"", "index=1", "index=0 workers=2 listeners=1 logfile=0",
		"index=3 workers=2 listeners=1 logfile=0", "index=1 workers=2 listeners=0 logfile=0",
		"index=1 workers=2 listeners=1 logfile=0 extra=1", "index=1 index=1 workers=2 listeners=1",
		"index=x workers=2 listeners=1 logfile=0", "index=-1 workers=2 listeners=1 logfile=0", "garbage"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseWorkerSpec(f *testing.F) {
	f.Add("index=1 workers=2 listeners=1 logfile=1")
	f.Add("index==1")
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseSpec(s)
		if err == nil && (w.Index < 1 || w.Index > w.Workers || w.Listeners < 1) {
			t.Fatalf("%q gave %+v", s, w)
		}
	})
}
