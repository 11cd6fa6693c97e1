package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/proxy"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/policy"
)

// A Dialer that follows a socks.conf: 127.0.0.2 goes through a SOCKS5
// server, 10.0.0.0/8 is refused, everything else is direct.
func ExampleDialer() {
	proxyAddr, stop := exampleSockd()
	defer stop()
	dst, stopEcho := echoServer("127.0.0.2:0")
	defer stopEcho()

	rules, err := client.LoadRules(writeTemp("socks.conf",
		"deny 10.0.0.0 255.0.0.0\n"+
			"sockd @=socks5://"+proxyAddr+" 127.0.0.2 255.255.255.255\n"+
			"direct 0.0.0.0 0.0.0.0\n"))
	if err != nil {
		log.Fatal(err)
	}
	d := &client.Dialer{Rules: rules}

	c, err := d.Dial("tcp", dst)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintln(c, "hello")
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Print("echoed: ", line)
	fmt.Println("through a proxy:", strings.HasPrefix(c.(*client.Conn).PathString(), "socks5://"))

	_, err = d.Dial("tcp", "10.1.2.3:80")
	fmt.Println("refused:", errors.Is(err, client.ErrDenied))
	// Output:
	// echoed: hello
	// through a proxy: true
	// refused: true
}

// Plan says how a destination would be reached, and why, without
// connecting: here a two-hop chain, the second server reached through the
// first.
func ExampleDialer_Plan() {
	rules, err := client.LoadRules(writeTemp("socks.conf",
		"sockd @=socks5h://10.0.0.2:1080 0.0.0.0 0.0.0.0 eq 443\n"+
			"sockd @=socks4://10.0.0.1 10.0.0.2 255.255.255.255\n"+
			"direct 10.0.0.1 255.255.255.255\n"))
	if err != nil {
		log.Fatal(err)
	}
	d := &client.Dialer{Rules: rules}
	r := d.Plan(context.Background(), policy.CmdConnect, client.Target{Name: "www.example.org", Port: 443}, false)
	fmt.Println(r.Decision.Action, "by line", r.Decision.Rule.Pos.Line)
	for _, chain := range r.Chains() {
		for _, u := range chain {
			fmt.Println("hop:", u)
		}
	}
	// Output:
	// sockd by line 1
	// hop: socks4://10.0.0.1:1080
	// hop: socks5h://10.0.0.2:1080
}

// Listen asks the server for one incoming connection (BIND): the
// announced address is given to the peer, which connects to it.
func ExampleDialer_Listen() {
	proxyAddr, stop := exampleSockd()
	defer stop()
	d := &client.Dialer{DefaultServers: []client.Upstream{{Scheme: "socks5", Host: "127.0.0.1", Port: port(proxyAddr)}},
		Rules: mustRules("sockd 127.0.0.2 255.255.255.255\n")}
	ln, err := d.Listen(context.Background(), "tcp", "127.0.0.2:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		// The peer, on 127.0.0.2 as announced in the request.
		pd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
		if c, err := pd.Dial("tcp", ln.Addr().String()); err == nil {
			fmt.Fprintln(c, "called back")
			c.Close()
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Print(line)
	fmt.Println("peer:", c.RemoteAddr().(*net.TCPAddr).IP)
	// Output:
	// called back
	// peer: 127.0.0.2
}

// Associate opens a SOCKS5 UDP association: datagrams go through the
// server's relay.
func ExampleDialer_Associate() {
	proxyAddr, stop := exampleSockd()
	defer stop()
	dst, stopEcho := udpEcho("127.0.0.2:0")
	defer stopEcho()
	var d client.Dialer
	pc, err := d.Associate(context.Background(), client.Upstream{Scheme: "socks5", Host: "127.0.0.1", Port: port(proxyAddr)})
	if err != nil {
		log.Fatal(err)
	}
	defer pc.Close()
	ua, _ := net.ResolveUDPAddr("udp", dst)
	pc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := pc.WriteTo([]byte("ping"), ua); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 64)
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(buf[:n]), "from", from.String() == dst)
	// Output: ping from true
}

// ProxyDialer is a golang.org/x/net/proxy dialer for one proxy URL, and
// can be registered for the schemes x/net/proxy does not know.
func ExampleProxyDialer() {
	proxyAddr, stop := exampleSockd()
	defer stop()
	dst, stopEcho := echoServer("127.0.0.1:0")
	defer stopEcho()

	proxy.RegisterDialerType("socks4a", client.ProxyFromURL)
	u, _ := url.Parse("socks4a://" + proxyAddr)
	d, err := proxy.FromURL(u, proxy.Direct)
	if err != nil {
		log.Fatal(err)
	}
	c, err := d.Dial("tcp", dst)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintln(c, "via socks4a")
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Print(line)
	// Output: via socks4a
}

// Credentials for servers live in their own file; an entry names the
// server by URL, by host:port, or * for any.
func ExampleParseCredentials() {
	creds, err := client.ParseCredentials("credentials", []byte(
		"# upstream              user   password\n"+
			"socks5://10.0.0.1:1080  alice  pass with blanks\n"+
			"*                       bob    other\n"))
	if err != nil {
		log.Fatal(err)
	}
	u := creds.Apply(client.Upstream{Scheme: "socks5", Host: "10.0.0.1", Port: 1080})
	fmt.Printf("%s %q\n", u.User, u.Password)
	u = creds.Apply(client.Upstream{Scheme: "http", Host: "10.0.0.9", Port: 3128})
	fmt.Printf("%s %q\n", u.User, u.Password)
	// Output:
	// alice "pass with blanks"
	// bob "other"
}

func port(hostport string) uint16 {
	_, p, _ := net.SplitHostPort(hostport)
	var n uint16
	fmt.Sscan(p, &n)
	return n
}

func mustRules(text string) *policy.ClientPolicy {
	r, err := client.LoadRules(writeTemp("socks.conf", text))
	if err != nil {
		log.Fatal(err)
	}
	return r
}
