package client_test

import (
	"context"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testnet"

	"github.com/sockd/sockd/internal/server"
)

// exampleSockd starts a sockd on 127.0.0.1 that permits loopback
// clients, for the examples; stop ends it.
func exampleSockd() (addr string, stop func()) { return sockdOn("127.0.0.1") }

// sockdOn is exampleSockd listening on another loopback address.
func sockdOn(host string) (addr string, stop func()) {
	dir, err := os.MkdirTemp("", "client-example")
	if err != nil {
		log.Fatal(err)
	}
	conf := filepath.Join(dir, "sockd.conf")
	os.WriteFile(conf, []byte("permit 127.0.0.0 255.0.0.0\ndeny 0.0.0.0 0.0.0.0\n"), 0o600)
	s, err := server.New(server.Options{ConfigPath: conf})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ln) }()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
		os.RemoveAll(dir)
	}
}

// echoServer echoes TCP connections on addr until stop.
func echoServer(addr string) (string, func()) {
	ln, err := testnet.Echo("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	return ln.Addr().String(), func() { ln.Close() }
}

// udpEcho echoes datagrams on addr until stop.
func udpEcho(addr string) (string, func()) {
	pc, err := testnet.EchoUDP(addr, "")
	if err != nil {
		log.Fatal(err)
	}
	return pc.LocalAddr().String(), func() { pc.Close() }
}

// exampleFiles is the directory of the files the examples write
// (writeTemp), made at the first. An example has no testing.T to clean up
// after it, so TestMain removes the directory once everything has run.
var exampleFiles struct {
	once sync.Once
	dir  string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if exampleFiles.dir != "" {
		os.RemoveAll(exampleFiles.dir)
	}
	os.Exit(code)
}

// writeTemp writes a file for an example and returns its path.
func writeTemp(name, text string) string {
	exampleFiles.once.Do(func() {
		dir, err := os.MkdirTemp("", "client-example")
		if err != nil {
			log.Fatal(err)
		}
		exampleFiles.dir = dir
	})
	p := filepath.Join(exampleFiles.dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		log.Fatal(err)
	}
	return p
}
