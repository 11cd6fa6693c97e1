package srelay

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// srelay's defaults (its SYSCONFDIR is /usr/local/etc).
const (
	DefaultConf = "/usr/local/etc/srelay.conf"
	defaultPort = "1080"
)

// Usage is `srelay -h`.
const Usage = `usage: srelay [options]
options:
	-c file	config file (srelay.conf; default ` + DefaultConf + `, if it exists)
	-i i/f	listen interface IP[:PORT], [IPv6][:PORT] or :PORT (repeatable; default :1080)
	-m num	max sessions at once
	-o min	idle timeout minutes (0: none, the default)
	-p file	pid file
	-a np	auth methods n: no, p: username/password of the host's accounts, in this order
	-u file	srelay password file (next hops' user names and passwords)
	-f	run in the foreground (srelay always does)
	-r	resolve client names in the log
	-s	log to syslog
	-t	disable threading (accepted: there are no threads to disable)
	-b	avoid BIND port restriction
	-g	use the same interface for outbound as inbound
	-v	show version and exit
	-h, -?	show this help and exit
Access: /etc/hosts.allow and /etc/hosts.deny (daemon name srelay); with neither naming srelay
and no -a p, only loopback clients are served.
Long options of sockd also work (see 'srelay --help').
`

// Command is srelay's command line translated.
type Command struct {
	Args    []string // the daemon's flags
	Help    bool     // -h or -?: print Usage and exit
	Version bool     // -v: print the version and exit
}

// Translate translates srelay's command line (getopt
// "a:bc:fghi:m:o:p:rstu:v?") into the daemon's flags. Long flags of the
// daemon pass through as they are; takesValue says which of them take the
// next argument as their value.
func Translate(args []string, takesValue func(long string) bool) (Command, error) {
	var out []string
	var methods []string
	config, listens := "", 0
	withArg := "acimopu"
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "--") || a == "-" || !strings.HasPrefix(a, "-") {
			if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
				return Command{}, fmt.Errorf("srelay takes no arguments: %q", a)
			}
			out = append(out, a) // a sockd long flag
			// The long forms of -i and -c (as a --workers supervisor passes
			// them on) replace srelay's defaults too.
			switch {
			case a == "--listen" || strings.HasPrefix(a, "--listen="):
				listens++
			case a == "--srelay-conf" || strings.HasPrefix(a, "--srelay-conf="):
				config = "given"
			}
			if !strings.Contains(a, "=") && i+1 < len(args) && takesValue(a) {
				i++
				out = append(out, args[i])
			}
			continue
		}
		for j := 1; j < len(a); j++ {
			o := a[j]
			var val string
			if strings.IndexByte(withArg, o) >= 0 {
				switch {
				case j+1 < len(a):
					val = a[j+1:]
				case i+1 < len(args):
					i++
					val = args[i]
				default:
					return Command{}, fmt.Errorf("option -%c needs a value", o)
				}
				j = len(a)
			}
			switch o {
			case 'c':
				config = val
			case 'i':
				l, err := listenAddr(val)
				if err != nil {
					return Command{}, err
				}
				out = append(out, "--listen", l)
				listens++
			case 'm':
				if n, err := strconv.Atoi(val); err != nil || n < 0 {
					return Command{}, fmt.Errorf("-m %s: want a number of sessions", val)
				}
				out = append(out, "--max-clients", val)
			case 'o':
				n, err := strconv.Atoi(val)
				if err != nil || n < 0 {
					return Command{}, fmt.Errorf("-o %s: want idle minutes (0 for none)", val)
				}
				out = append(out, "--idle-timeout", strconv.Itoa(n)+"m")
			case 'p':
				out = append(out, "--pidfile", val)
			case 'u':
				out = append(out, "--credentials", val)
			case 'a':
				for _, m := range val {
					switch m {
					case 'n':
						methods = appendOnce(methods, "none")
					case 'p':
						methods = appendOnce(methods, "userpass")
					default:
						return Command{}, fmt.Errorf("-a %s: methods are n (none) and p (username/password)", val)
					}
				}
			case 's':
				out = append(out, "--syslog")
			case 'g':
				out = append(out, "--same-interface")
			case 'b':
				out = append(out, "--bind-any-port")
			case 'r':
				out = append(out, "--log-client-names")
			case 'f', 't':
				// foreground: always; threads: none to disable
			case 'v':
				return Command{Version: true}, nil
			case 'h', '?':
				return Command{Help: true}, nil
			default:
				return Command{}, fmt.Errorf("unknown option -%c (srelay -h lists them)", o)
			}
		}
	}
	if config == "" {
		if _, err := os.Stat(DefaultConf); err == nil {
			config = DefaultConf
		}
	}
	if config != "" && config != "given" {
		out = append(out, "--srelay-conf", config)
	}
	if listens == 0 {
		out = append(out, "--listen", ":"+defaultPort)
	}
	if len(methods) > 0 {
		out = append(out, "--auth", strings.Join(methods, ","))
		for _, m := range methods {
			if m == "userpass" {
				out = append(out, "--auth-system")
			}
		}
	}
	if !hasFlag(out, "--idle-timeout") {
		out = append(out, "--idle-timeout", "0") // srelay: no idle timeout unless -o
	}
	return Command{Args: out}, nil
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

// listenAddr turns an -i spec into a listen address: a bare address or
// name listens on port 1080, `:port` on every address, `[v6]:port` and
// `host:port` as written.
func listenAddr(spec string) (string, error) {
	switch {
	case spec == "":
		return "", fmt.Errorf("-i needs an address, :port or both")
	case strings.HasPrefix(spec, "["):
		end := strings.IndexByte(spec, ']')
		if end < 0 {
			return "", fmt.Errorf("-i %s: missing ]", spec)
		}
		host, rest := spec[1:end], spec[end+1:]
		if _, err := netip.ParseAddr(host); err != nil {
			return "", fmt.Errorf("-i %s: %q is not an IPv6 address", spec, host)
		}
		if rest == "" {
			return net.JoinHostPort(host, defaultPort), nil
		}
		if rest[0] != ':' || !validPort(rest[1:]) {
			return "", fmt.Errorf("-i %s: want [IPv6]:port", spec)
		}
		return net.JoinHostPort(host, rest[1:]), nil
	case strings.Count(spec, ":") > 1:
		if _, err := netip.ParseAddr(spec); err != nil {
			return "", fmt.Errorf("-i %s: write an IPv6 address in brackets, as [::1]:1080", spec)
		}
		return net.JoinHostPort(spec, defaultPort), nil
	}
	host, port, hasPort := strings.Cut(spec, ":")
	if !hasPort {
		port = defaultPort
	}
	if !validPort(port) {
		return "", fmt.Errorf("-i %s: %q is not a port", spec, port)
	}
	return net.JoinHostPort(host, port), nil
}

// validPort accepts 0 too: the system picks a free port (and the log says
// which), as tests and supervisors need.
func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n < 65536 && !strings.ContainsAny(s, "+-")
}
