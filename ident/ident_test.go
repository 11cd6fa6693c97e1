package ident

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"
)

// fakeIdentd listens on 127.0.0.1 and answers each query with respond(line),
// where line is the query it read. respond returning "" with hang set makes
// it read the query and then say nothing until the test ends.
type fakeIdentd struct {
	ln      net.Listener
	queries chan string
	sources chan netip.Addr
}

func startFakeIdentd(t *testing.T, respond func(query string) (reply string, hang bool)) (*fakeIdentd, uint16) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIdentd{ln: ln, queries: make(chan string, 4), sources: make(chan netip.Addr, 4)}
	testnet.Hold(t, ln, func(c net.Conn) {
		f.sources <- c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			c.Close()
			return
		}
		f.queries <- line
		reply, hang := respond(line)
		if hang {
			return // Hold closes c when the test ends
		}
		c.Write([]byte(reply))
		c.Close()
	})
	return f, uint16(ln.Addr().(*net.TCPAddr).Port)
}

var (
	// The SOCKS connection being asked about: the client at 127.0.0.1:40000
	// connected to the server at 127.0.0.1:1080.
	serverSide = netip.MustParseAddrPort("127.0.0.1:1080")
	clientSide = netip.MustParseAddrPort("127.0.0.1:40000")
)

func TestQueryAgainstFake(t *testing.T) {
	tests := []struct {
		name      string
		reply     string
		want      Reply
		wantErr   error
		wantToken string
	}{
		{"userid", "40000 , 1080 : USERID : UNIX : alice\r\n", Reply{UserID: "alice", OS: "UNIX"}, nil, ""},
		{"userid with charset and blanks", "40000,1080:USERID:UNIX , UTF-8:  bob smith \t\r\n",
			Reply{UserID: "bob smith", OS: "UNIX", Charset: "UTF-8"}, nil, ""},
		{"bare LF", "40000 , 1080 : USERID : OTHER :\x01\xfe:x\n", Reply{UserID: "\x01\xfe:x", OS: "OTHER"}, nil, ""},
		{"no-user", "40000 , 1080 : ERROR : NO-USER\r\n", Reply{}, ErrIdentError, "NO-USER"},
		{"hidden-user lower case", "40000 , 1080 : error : hidden-user\r\n", Reply{}, ErrIdentError, "HIDDEN-USER"},
		{"garbage", "HTTP/1.0 400 Bad Request\r\n", Reply{}, ErrMalformed, ""},
		{"wrong port pair", "1080 , 40000 : USERID : UNIX : alice\r\n", Reply{}, ErrMalformed, ""},
		{"no end of line", strings.Repeat("x", 1500), Reply{}, ErrMalformed, ""},
		{"closed without answer", "", Reply{}, ErrUnreachable, ""},
		{"closed mid-line", "40000 , 1080 : USERID : UNIX : ro", Reply{}, ErrUnreachable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, port := startFakeIdentd(t, func(string) (string, bool) { return tt.reply, false })
			got, err := query(context.Background(), serverSide, clientSide, 5*time.Second, port)
			if q := <-fake.queries; q != "40000 , 1080\r\n" {
				t.Errorf("identd received %q, want the client's port first", q)
			}
			if src := <-fake.sources; src != serverSide.Addr() {
				t.Errorf("query came from %v, want the server's address %v", src, serverSide.Addr())
			}
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("query = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("query error = %v, want %v", err, tt.wantErr)
			}
			for _, other := range []error{ErrUnreachable, ErrIdentError, ErrMalformed} {
				if other != tt.wantErr && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
			if tt.wantToken != "" {
				var er *ErrorReply
				if !errors.As(err, &er) || er.Token != tt.wantToken {
					t.Errorf("error %v does not carry token %q", err, tt.wantToken)
				}
			}
		})
	}
}

func TestQueryTimesOut(t *testing.T) {
	_, port := startFakeIdentd(t, func(string) (string, bool) { return "", true })
	start := time.Now()
	_, err := query(context.Background(), serverSide, clientSide, 200*time.Millisecond, port)
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want ErrUnreachable wrapping context.DeadlineExceeded", err)
	}
	// Generous bound: only "it did not wait for the 15 s default" matters.
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("query took %v with a 200ms timeout", elapsed)
	}
}

func TestQueryCancelled(t *testing.T) {
	fake, port := startFakeIdentd(t, func(string) (string, bool) { return "", true })
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() {
		_, err := query(ctx, serverSide, clientSide, time.Minute, port)
		result <- err
	}()
	<-fake.queries // the query is in flight and the identd is silent
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want ErrUnreachable wrapping context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("query ignored the cancellation")
	}
}

func TestQueryRefused(t *testing.T) {
	// Take a free port, then close it: nothing listens there any more.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	_, err = query(context.Background(), serverSide, clientSide, 5*time.Second, port)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("error = %v, want ErrUnreachable", err)
	}
}

func TestQueryMappedAddresses(t *testing.T) {
	// A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
	fake, port := startFakeIdentd(t, func(q string) (string, bool) {
		return strings.TrimSpace(q) + " : USERID : UNIX : carol\r\n", false
	})
	local := netip.MustParseAddrPort("[::ffff:127.0.0.1]:1080")
	remote := netip.MustParseAddrPort("[::ffff:127.0.0.1]:50000")
	got, err := query(context.Background(), local, remote, 5*time.Second, port)
	if err != nil || got.UserID != "carol" {
		t.Fatalf("query = %+v, %v", got, err)
	}
	if src := <-fake.sources; src != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("query came from %v", src)
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		line    string
		want    Reply
		wantErr error
	}{
		{"6193, 23 : USERID : UNIX : stjohns", Reply{UserID: "stjohns", OS: "UNIX"}, nil},
		{"  6193 ,23:USERID:OTHER,US-ASCII:  a:b:c  ", Reply{UserID: "a:b:c", OS: "OTHER", Charset: "US-ASCII"}, nil},
		{"6193, 23 : userid : unix : x", Reply{UserID: "x", OS: "unix"}, nil},
		{"6193, 23 : ERROR : INVALID-PORT", Reply{}, ErrIdentError},
		{"6193, 23 : ERROR : X-PRIVATE", Reply{}, ErrIdentError},
		{"6193, 23 : ERROR :", Reply{}, ErrMalformed},
		{"6193, 23 : ERROR : TWO WORDS", Reply{}, ErrMalformed},
		{"6193, 23 : USERID : UNIX :   ", Reply{}, ErrMalformed},
		{"6193, 23 : USERID : UNIX", Reply{}, ErrMalformed},
		{"6193, 23 : USERID :  : x", Reply{}, ErrMalformed},
		{"6193, 23 : USERID : UNIX, : x", Reply{}, ErrMalformed},
		{"6193, 23 : USERID : UNIX : x\ry", Reply{}, ErrMalformed},
		{"6193, 23 : USERID : UNIX : x\x00y", Reply{}, ErrMalformed},
		{"6193, 23 : WHATEVER : x", Reply{}, ErrMalformed},
		{"6193, 24 : USERID : UNIX : x", Reply{}, ErrMalformed},
		{"6193 23 : USERID : UNIX : x", Reply{}, ErrMalformed},
		{"+6193, 23 : USERID : UNIX : x", Reply{}, ErrMalformed},
		{"99999, 23 : USERID : UNIX : x", Reply{}, ErrMalformed},
		{"", Reply{}, ErrMalformed},
	}
	for _, tt := range tests {
		got, err := ParseReply([]byte(tt.line), 6193, 23)
		if tt.wantErr == nil {
			if err != nil || got != tt.want {
				t.Errorf("ParseReply(%q) = %+v, %v; want %+v", tt.line, got, err, tt.want)
			}
			continue
		}
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("ParseReply(%q) error = %v, want %v", tt.line, err, tt.wantErr)
		}
	}
}

func FuzzIdentReply(f *testing.F) {
	for _, s := range []string{
		"6193, 23 : USERID : UNIX : stjohns",
		"6193,23:USERID:OTHER,UTF-8:\xff\xfe",
		"6193 , 23 : ERROR : NO-USER",
		"6193, 23 : ERROR : X-SOMETHING",
		"23, 6193 : USERID : UNIX : swapped",
		"garbage",
		"6193, 23 : USERID : UNIX :",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		got, err := ParseReply(line, 6193, 23)
		if err != nil {
			var er *ErrorReply
			switch {
			case errors.As(err, &er):
				if !isToken(er.Token) || er.Token != strings.ToUpper(er.Token) {
					t.Fatalf("error token %q", er.Token)
				}
			case !errors.Is(err, ErrMalformed):
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if got.UserID == "" || strings.Trim(got.UserID, " \t") != got.UserID ||
			strings.ContainsAny(got.UserID, "\x00\r\n") {
			t.Fatalf("user id %q", got.UserID)
		}
		if !isToken(got.OS) || (got.Charset != "" && !isToken(got.Charset)) {
			t.Fatalf("tokens %q %q", got.OS, got.Charset)
		}
		// The accepted line names the pair that was asked for.
		if !strings.Contains(string(line), "6193") || !strings.Contains(string(line), "23") {
			t.Fatalf("accepted %q for another port pair", line)
		}
	})
}
