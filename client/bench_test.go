package client_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/policy"
)

// BenchmarkDial measures connection setup to a loopback echo server:
// direct, through one sockd (SOCKS5) and through two chained sockd.
func BenchmarkDial(b *testing.B) {
	p1, stop1 := exampleSockd()
	defer stop1()
	p2, stop2 := sockdOn("127.0.0.3")
	defer stop2()
	dst, stopEcho := echoServer("127.0.0.2:0")
	defer stopEcho()
	// The far hop p2 (127.0.0.3) is reached through p1 (127.0.0.1).
	confs := map[string]string{
		"direct":   "direct 0.0.0.0 0.0.0.0\n",
		"one-hop":  "sockd @=socks5://" + p1 + " 127.0.0.2 255.255.255.255\n",
		"two-hops": "sockd @=socks5://" + p2 + " 127.0.0.2 255.255.255.255\nsockd @=socks5://" + p1 + " 127.0.0.3 255.255.255.255\n",
	}
	for _, name := range []string{"direct", "one-hop", "two-hops"} {
		b.Run(name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "socks.conf")
			os.WriteFile(path, []byte(confs[name]), 0o600)
			rules, err := client.LoadRules(path)
			if err != nil {
				b.Fatal(err)
			}
			d := &client.Dialer{Rules: rules}
			t, _ := client.ParseTarget(dst)
			var one [1]byte
			for b.Loop() {
				c, err := d.Follow(context.Background(), d.Plan(context.Background(), policy.CmdConnect, t, false), policy.CmdConnect)
				if err != nil {
					b.Fatal(err)
				}
				c.Write([]byte("x"))
				io.ReadFull(c, one[:])
				c.Close()
			}
		})
	}
}
