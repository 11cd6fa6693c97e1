package acceptgate

import "time"

// Backoff paces an accept loop that ran out of descriptors (or met
// another passing error): doubling from 5 ms to 1 s, reset by an accept
// that works, so the loop neither spins nor stalls. Both of the server's
// accept loops use one. The zero Backoff is ready, at its first pause.
type Backoff time.Duration

// Next is the pause before the next accept, after a failed one.
func (b *Backoff) Next() time.Duration {
	if *b == 0 {
		*b = Backoff(5 * time.Millisecond)
	} else if *b *= 2; *b > Backoff(time.Second) {
		*b = Backoff(time.Second)
	}
	return time.Duration(*b)
}

// Reset starts the pauses again from the first, after an accept worked.
func (b *Backoff) Reset() { *b = 0 }
