// Package sysauth checks a user name and password against the host's own
// accounts, as srelay's -a p did: through PAM (pam_unix reads /etc/shadow
// and verifies whatever hash the system wrote: yescrypt `$y$` on Debian
// 12, SHA-512 `$6$`, ...). PAM is the system's own verifier, so no hash
// algorithm is reimplemented here: no well-kept Go module implements
// yescrypt (openwall's yescrypt-go is not served by the module proxy).
//
// Reading /etc/shadow needs root (or the shadow group): a daemon that
// drops to --user nobody can then check only through pam_unix's setuid
// helper, which verifies the calling user's own password alone.
//
// Checks are bounded: at most MaxConcurrent run at once (each may sleep in
// pam_unix's failure delay), the others wait or give up with their
// context. Failures for unknown users and for wrong passwords take the
// same path and the same minimum time, so timing does not tell whether an
// account exists.
package sysauth

import (
	"context"
	"errors"
	"time"
)

// MaxConcurrent bounds the PAM conversations running at once.
const MaxConcurrent = 4

// MinFailure is the least time a failed check takes: pam_unix already
// delays failures (about 2 s unless configured with nodelay); this floor
// keeps unknown users and wrong passwords alike when it does not.
const MinFailure = 200 * time.Millisecond

// ErrDenied is returned for a wrong password, an unknown user, or an
// account PAM refuses (expired, locked).
var ErrDenied = errors.New("authentication failed")

// Checker authenticates against the host's accounts through PAM service
// Service (the daemon's name; without /etc/pam.d/<service>, PAM uses
// /etc/pam.d/other, which on Debian is the common-auth stack).
type Checker struct {
	Service string
	slots   chan struct{}
}

// New returns a Checker for service.
func New(service string) *Checker {
	return &Checker{Service: service, slots: make(chan struct{}, MaxConcurrent)}
}

// Check returns nil when PAM accepts user and password, ErrDenied when it
// refuses them, or ctx's error when no slot freed up in time.
func (c *Checker) Check(ctx context.Context, user, password string) error {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.slots }()
	start := time.Now()
	err := pamAuthenticate(c.Service, user, password)
	if err != nil {
		if d := MinFailure - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
	return err
}

// Available reports whether this build can check host accounts.
func Available() bool { return pamAvailable() }
