package server

// Options and their defaults: what a caller (the CLI, a test) sets before
// New; New fills in what was left zero (setDefaults).

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/ident"
	"github.com/sockd/sockd/internal/acceptgate"
	"github.com/sockd/sockd/internal/load"
	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/socks"
)

// Defaults of the timeouts and limits (the flags' defaults).
const (
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultConnectTimeout is also the BIND accept timeout. 4.3's header
	// said 3 minutes, its code and the protocol text 2.
	DefaultConnectTimeout = 2 * time.Minute
	DefaultIdleTimeout    = 2 * time.Hour // 4.3's SOCKS_TIMEOUT
	DefaultIdentTimeout   = ident.DefaultTimeout
	DefaultCommandTimeout = 60 * time.Second
	DefaultDrainTimeout   = 10 * time.Second
	DefaultMaxCommands    = 16
	// DefaultListen is where the daemon listens without --listen.
	DefaultListen = "127.0.0.1:1080"
)

// Options configure a Server. Zero durations and limits take the defaults
// above, except IdleTimeout and MaxClients, whose zero means none.
type Options struct {
	// ConfigPath is the sockd.conf or sockd.fc; "" follows 4.3's lookup
	// (/etc/sockd.fc, /etc/sockd.conf) and then the embedded default that
	// permits loopback clients only.
	ConfigPath string
	// DefaultRules, when set, are the sockd.conf text used when ConfigPath
	// is "" instead of 4.3's lookup (a personality's own rules: srelay has
	// no rule file); DefaultRulesName names them in logs and diagnostics.
	DefaultRules     []byte
	DefaultRulesName string
	// RoutePath is the sockd.route or sockd.fr; "" follows 4.3's lookup,
	// /etc/sockd.fr then /etc/sockd.route, and with neither the system
	// picks the interface.
	RoutePath string
	// ShadowPath is a candidate sockd.conf or sockd.fc decided beside the
	// live rules without enforcing it (internal/shadow); "" means none.
	ShadowPath string
	// PasswdPath is the password file for SOCKS5 username/password; ""
	// means none.
	PasswdPath string
	// ClientConfigPath is a socks.conf or socks.fc (rsockd mode: how
	// permitted requests reach their destinations, see upstream.go); ""
	// connects directly, unless ClientDefault asks for 4.3's rsockd lookup
	// (/etc/socks.fc, /etc/socks.conf). CredentialsPath is the file of
	// user names and passwords for upstreams; "" means none.
	ClientConfigPath string
	ClientDefault    bool
	CredentialsPath  string
	// DefaultServers serve the socks.conf sockd lines without @= (4.3's
	// default server); nil means SOCKS_SERVER from the environment, read
	// when the files are loaded.
	DefaultServers []client.Upstream
	// ClientConfigSrelay says ClientConfigPath is a srelay.conf (see
	// grammar.ParseSrelay), and CredentialsPath a srelay.passwd.
	ClientConfigSrelay bool
	// Methods are the SOCKS5 methods offered, in order of preference; nil
	// means username/password when PasswdPath is set, else none.
	Methods []socks.Method
	// IdentMode is -i (lenient) or -I (strict) for lines without ?=.
	IdentMode policy.IdentMode
	// GrammarOptions are passed to the compiler of text files.
	GrammarOptions load.Options

	HandshakeTimeout time.Duration // a client must finish its request within this
	ConnectTimeout   time.Duration // resolving and connecting to a destination
	BindTimeout      time.Duration // waiting for the peer of a BIND
	IdleTimeout      time.Duration // a relay with no traffic either way ends; 0 = never
	UDPTimeout       time.Duration // a UDP association with no datagram either way ends; 0 = DefaultUDPTimeout
	IdentTimeout     time.Duration // one identd query
	CommandTimeout   time.Duration // a rule's shell command is killed after this
	MaxClients       int           // sessions at once; excess are closed at once; 0 = no limit
	MaxCommands      int           // shell commands at once; excess are logged and dropped

	// Logger receives the classic lines; nil discards them.
	Logger *slog.Logger
	// Resolver resolves destination names and reverse names; nil means
	// net.DefaultResolver.
	Resolver *net.Resolver

	// Metrics, when set, receives the daemon's Prometheus series (see
	// internal/metrics); nil means no metrics.
	Metrics prometheus.Registerer
	// Notify, when set, is told about reloads in sd_notify(3) syntax.
	Notify func(state string)

	// AcceptCheck, when set, decides each accepted connection from its
	// addresses before any byte is read or written (acceptcheck.go): false
	// closes it, and reason is logged. nil accepts every connection.
	AcceptCheck acceptgate.Check

	// SystemPasswords, when set, checks SOCKS5 user names and passwords
	// instead of the PasswdPath file: the host's accounts (syspasswd.go).
	SystemPasswords func(ctx context.Context, user, password string) bool

	// SameInterface makes outgoing connections leave from the address the
	// client connected to (srelay's -g) when the route file names none
	// and the families agree (outbound.go).
	SameInterface bool

	// SrelayBind picks a BIND listener's port as srelay did: the port the
	// request names, else the client's own port, else any; ports below
	// 600 only with BindAnyPort (srelay -b). Without it, any port.
	SrelayBind, BindAnyPort bool

	// NoEventLoops serves every listener with a goroutine per session,
	// as on systems without the event loops (--event-loops off). The zero
	// value lets the event loops (loop_linux.go) serve the plain
	// listeners on Linux; both engines behave the same, and every server
	// test runs under both.
	NoEventLoops bool

	// routeDefaults replaces 4.3's route file lookup in tests; nil means
	// load.SockdFR, then load.SockdRoute.
	routeDefaults []string

	// identQuery replaces ident.Query in tests (an identd on a port other
	// than 113).
	identQuery func(ctx context.Context, local, remote netip.AddrPort, timeout time.Duration) (ident.Reply, error)
}

func (o *Options) setDefaults() {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.BindTimeout <= 0 {
		o.BindTimeout = o.ConnectTimeout
	}
	if o.IdentTimeout <= 0 {
		o.IdentTimeout = DefaultIdentTimeout
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = DefaultCommandTimeout
	}
	if o.MaxCommands <= 0 {
		o.MaxCommands = DefaultMaxCommands
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.identQuery == nil {
		o.identQuery = ident.Query
	}
	if o.Methods == nil {
		if o.PasswdPath != "" {
			o.Methods = []socks.Method{socks.MethodUserPass}
		} else {
			o.Methods = []socks.Method{socks.MethodNoAuth}
		}
	}
}
