package hostsaccess

import (
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// Gate decides connections for one daemon with the current contents of
// its hosts.allow and hosts.deny. libwrap reads the files for every
// connection; the Gate reads them again only when one changed (its
// inode, size or modification time), so an edit takes effect at the next
// connection without a reload, as with libwrap. Safe for concurrent use.
type Gate struct {
	Daemon    string
	AllowPath string
	DenyPath  string
	// Warn receives the warnings of each (re)load; nil drops them.
	Warn func(msg string)

	mu              sync.Mutex
	allowID, denyID fileID
	allow, deny     *Table
	checked         time.Time
	loadedOnce      bool
}

type fileID struct {
	ino, size int64
	mtime     time.Time
	exists    bool
}

func statID(path string) fileID {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}
	}
	id := fileID{size: fi.Size(), mtime: fi.ModTime(), exists: true}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.ino = int64(st.Ino)
	}
	return id
}

// tables returns the tables, reloading a changed file.
func (g *Gate) tables() (*Table, *Table) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, d := statID(g.AllowPath), statID(g.DenyPath)
	if !g.loadedOnce || a != g.allowID {
		g.allow, g.allowID = g.load(g.AllowPath, a), a
	}
	if !g.loadedOnce || d != g.denyID {
		g.deny, g.denyID = g.load(g.DenyPath, d), d
	}
	g.loadedOnce = true
	return g.allow, g.deny
}

func (g *Gate) load(path string, id fileID) *Table {
	if !id.exists {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		// libwrap: a file it cannot open (other than missing) is an
		// error, which in hosts.deny denies. Keep that fail-closed rule.
		t := &Table{Path: path, brokenEnd: true}
		t.warn(0, "cannot read: %v", err)
		g.warn(t)
		return t
	}
	t := Parse(path, data)
	g.warn(t)
	return t
}

func (g *Gate) warn(t *Table) {
	if g.Warn == nil {
		return
	}
	for _, w := range t.Warnings {
		g.Warn(w)
	}
}

// Check decides one connection: client is its peer, server the address
// it reached.
func (g *Gate) Check(client, server netip.AddrPort) Verdict {
	allow, deny := g.tables()
	return Access(allow, deny, &Request{Daemon: g.Daemon, Client: client, Server: server})
}

// Configured reports whether either file has a rule for the daemon.
func (g *Gate) Configured() bool {
	allow, deny := g.tables()
	return allow.Mentions(g.Daemon) || deny.Mentions(g.Daemon)
}
