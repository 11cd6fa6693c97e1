package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// The targets run in a child process of the benchmark: holding 10,000
// relayed connections needs 10,000 descriptors on the client side and
// 10,000 on the target side, more than one process may open under a
// 20,000-descriptor hard limit.
const roleEnv = "SOCKD_BENCH_ROLE"

// Target ports, in the order the child prints them.
type targets struct {
	source string // writes without end: throughput (download direction)
	rate   string // reads one small request, answers and closes first
	echo   string // echoes until the client closes: idle and held connections
	pid    int    // the target process, whose processor time is the load generator's
}

const (
	rateRequestLen = 64
	rateReplyLen   = 512
	echoLen        = 16
)

// runTargets is the child's main: it listens on three loopback ports,
// prints them, and serves until its standard input closes (the parent
// died or finished).
func runTargets() {
	raiseFileLimit()
	lns := make([]net.Listener, 3)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "target:", err)
			os.Exit(1)
		}
		lns[i] = ln
	}
	go serve(lns[0], serveSource)
	go serve(lns[1], serveRate)
	go serve(lns[2], serveEcho)
	fmt.Printf("%s %s %s\n", lns[0].Addr(), lns[1].Addr(), lns[2].Addr())
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

func serve(ln net.Listener, h func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			continue // EMFILE and friends: keep going, the client will time out
		}
		go h(c)
	}
}

var sourceBuf = make([]byte, 256<<10)

func serveSource(c net.Conn) {
	defer c.Close()
	for {
		if _, err := c.Write(sourceBuf); err != nil {
			return
		}
	}
}

var rateReply = make([]byte, rateReplyLen)

// serveRate answers one request and closes first, so the TIME_WAIT state
// stays on the target's side and the clients' ephemeral ports do not run
// out.
func serveRate(c net.Conn) {
	var b [rateRequestLen]byte
	if _, err := io.ReadFull(c, b[:]); err == nil {
		c.Write(rateReply)
	}
	c.Close()
}

func serveEcho(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, echoLen)
	var b [echoLen]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return
		}
		if _, err := c.Write(b[:]); err != nil {
			return
		}
	}
}

// raiseFileLimit lifts the soft descriptor limit to the hard one.
func raiseFileLimit() uint64 {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return lim.Cur
}
