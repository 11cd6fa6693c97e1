package frozen

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode checks that Decode never panics, refuses with exactly one
// sentinel, and that the format is canonical: whatever it accepts encodes
// back to the same bytes. Each input is also tried resealed (header
// rewritten to match the body), since random bytes almost never carry a
// valid SHA-256 and would otherwise never reach the body decoder.
func FuzzDecode(f *testing.F) {
	for _, file := range everySample() {
		f.Add(mustEncode(f, file))
	}
	f.Add([]byte("permit 0.0.0.0 0.0.0.0\n"))
	f.Add([]byte("SOCKDFC\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(data []byte) {
			file, err := Decode(data)
			if err != nil {
				if file != nil {
					t.Fatalf("Decode returned a file and an error: %v", err)
				}
				if sentinelOf(err) == nil {
					t.Fatalf("error %q matches no single sentinel", err)
				}
				return
			}
			checkReencodes(t, file, data)
		}
		check(data)
		if len(data) >= HeaderSize && IsFrozen(data) {
			check(reseal(data))
		}
	})
}

// FuzzDecodeBody drives the body decoder directly: the input is sealed
// into a file with a valid header and checksum, so every mutation reaches
// the MessagePack reader, the validation and the canonical-form check.
func FuzzDecodeBody(f *testing.F) {
	for _, file := range everySample() {
		f.Add(uint8(file.Kind), mustEncode(f, file)[HeaderSize:])
	}
	f.Fuzz(func(t *testing.T, kind uint8, rawBody []byte) {
		k := Kind(kind%3 + 1)
		data := sealBody(k, rawBody)
		file, err := Decode(data)
		if err != nil {
			if file != nil || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("body refused with %v (file %v)", err, file != nil)
			}
			return
		}
		checkReencodes(t, file, data)
	})
}

// checkReencodes fails unless file, which Decode read from data, encodes
// back to exactly data: the format is canonical.
func checkReencodes(t *testing.T, file *File, data []byte) {
	t.Helper()
	out, err := Encode(file)
	if err != nil {
		t.Fatalf("Decode accepted what Encode refuses: %v", err)
	}
	if !bytes.Equal(out, data) {
		t.Fatalf("Encode(Decode(x)) != x\n x: %x\nout: %x", data, out)
	}
}
