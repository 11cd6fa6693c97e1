package socksify

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/sockd/sockd/client"
)

// The environment of the C library, the LD_PRELOAD wrapper and its helper.
const (
	EnvConf        = "SOCKS_CONF"        // socks.conf or socks.fc (default /etc/socks.fc, /etc/socks.conf)
	EnvProxy       = "SOCKS_PROXY"       // one proxy URL for everything, as `socks --proxy`
	EnvCredentials = "SOCKS_CREDENTIALS" // the credentials file, as `socks --credentials`
	EnvServer      = "SOCKS_SERVER"      // the default servers of sockd lines without @=
)

// FromEnv is the Router a program linked with libsocks (or run under the
// wrapper) uses: SOCKS_PROXY if set; else the rules of SOCKS_CONF, or
// /etc/socks.fc, or /etc/socks.conf. With no rules at all, a SOCKS_SERVER
// of one server sends everything through it (as a socks.conf of the one
// line "sockd 0.0.0.0 0.0.0.0" would); with neither, everything is direct.
func FromEnv() (*Router, error) {
	if p := strings.TrimSpace(os.Getenv(EnvProxy)); p != "" {
		if _, err := client.ParseUpstream(p); err != nil {
			return nil, err
		}
		return &Router{Proxy: p}, nil
	}
	d := &client.Dialer{}
	var err error
	if path := os.Getenv(EnvConf); path != "" {
		d.Rules, err = client.LoadRules(path)
	} else {
		d.Rules, err = client.DefaultRules()
	}
	if err != nil {
		return nil, err
	}
	if path := os.Getenv(EnvCredentials); path != "" {
		if d.Credentials, err = client.LoadCredentials(path); err != nil {
			return nil, err
		}
	}
	if d.Rules == nil {
		s := strings.TrimSpace(os.Getenv(EnvServer))
		if s != "" && !strings.Contains(s, ",") {
			if _, err := client.ParseUpstream(s); err != nil {
				return nil, err
			}
			return &Router{Proxy: s}, nil
		}
	}
	return &Router{Dialer: d}, nil
}

// Environ is the environment that hands `socks run`'s settings (-c,
// --proxy, --credentials; each empty when not given) to the LD_PRELOAD
// wrapper, which reads them as FromEnv does.
func Environ(conf, proxy, credentials string) []string {
	var env []string
	if conf != "" {
		if abs, err := filepath.Abs(conf); err == nil {
			env = append(env, EnvConf+"="+abs)
		}
	}
	if proxy != "" {
		env = append(env, EnvProxy+"="+proxy)
	}
	if credentials != "" {
		env = append(env, EnvCredentials+"="+credentials)
	}
	return env
}

// FindWrapper looks for libsockswrap.so where `make install` puts it:
// beside this program, in ../lib, in /usr/local/lib or /usr/lib; "" when
// there is none.
func FindWrapper() string {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		dirs = append(dirs, dir, filepath.Join(dir, "..", "lib"))
	}
	dirs = append(dirs, "/usr/local/lib", "/usr/lib")
	for _, d := range dirs {
		p := filepath.Join(d, "libsockswrap.so")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
