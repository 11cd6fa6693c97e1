package socks_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/sockd/sockd/internal/testnet"
	"github.com/sockd/sockd/socks"
)

// realFailures produces each kind of failure the way the OS and the
// resolver do (a refused loopback connect, a passed read deadline, a
// context deadline, a resolver error) and, for the errnos a loopback-only
// test cannot provoke, the error value a dial returns for them.
func realFailures(t *testing.T) map[string]error {
	t.Helper()
	errs := map[string]error{}

	errs["refused"] = testnet.RefusedErr(t)
	errs["deadline"] = testnet.DeadlineErr(t)

	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()
	errs["context"] = fmt.Errorf("dial: %w", ctx.Err())

	errs["dns"] = &net.DNSError{Err: "no such host", Name: "broken.test", IsNotFound: true}
	dial := func(e syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", e)}
	}
	errs["netunreach"] = dial(syscall.ENETUNREACH)
	errs["netdown"] = dial(syscall.ENETDOWN)
	errs["hostunreach"] = dial(syscall.EHOSTUNREACH)
	errs["etimedout"] = dial(syscall.ETIMEDOUT)
	errs["other"] = errors.New("something else")
	return errs
}

func TestV5ReplyFor(t *testing.T) {
	want := map[string]socks.V5ReplyCode{
		"refused":     socks.V5ConnectionRefused,
		"deadline":    socks.V5HostUnreachable,
		"context":     socks.V5HostUnreachable,
		"dns":         socks.V5HostUnreachable,
		"netunreach":  socks.V5NetworkUnreachable,
		"netdown":     socks.V5NetworkUnreachable,
		"hostunreach": socks.V5HostUnreachable,
		"etimedout":   socks.V5HostUnreachable,
		"other":       socks.V5GeneralFailure,
	}
	for name, err := range realFailures(t) {
		if got := socks.V5ReplyFor(err); got != want[name] {
			t.Errorf("%s (%v): reply %v, want %v", name, err, got, want[name])
		}
		// Wrapping, as callers that add context do, changes nothing.
		if got := socks.V5ReplyFor(fmt.Errorf("connect to x: %w", err)); got != want[name] {
			t.Errorf("wrapped %s: reply %v, want %v", name, got, want[name])
		}
	}
}

func TestIsTimeout(t *testing.T) {
	for name, err := range realFailures(t) {
		want := name == "deadline" || name == "context" || name == "etimedout"
		if got := socks.IsTimeout(err); got != want {
			t.Errorf("%s (%v): IsTimeout %v, want %v", name, err, got, want)
		}
	}
}
