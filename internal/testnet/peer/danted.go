// Package peer writes the configuration of the third-party SOCKS servers
// that sockd's tests and its benchmark run beside it (danted). It does not
// import testing, so the benchmark's binary can use it too; starting,
// waiting for and stopping the processes stays with each caller (the
// tests' helpers in internal/testnet, the benchmark's in bench).
package peer

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteDanted writes dir/danted.conf for a danted on 127.0.0.1 at port
// that takes clients from loopback, authenticates them with method (its
// socksmethod: none, username, rfc931) and passes what socksRules (danted's
// "socks pass" and "socks block" rules) permit. danted logs to
// dir/danted.log. It returns danted's arguments for that file, with its
// pid file in dir.
func WriteDanted(dir, port, method, socksRules string) ([]string, error) {
	conf := filepath.Join(dir, "danted.conf")
	text := fmt.Sprintf(`logoutput: %s
internal: 127.0.0.1 port = %s
external: 127.0.0.1
clientmethod: none
socksmethod: %s
user.privileged: root
user.unprivileged: nobody
client pass {
	from: 127.0.0.0/8 to: 0/0
}
`, filepath.Join(dir, "danted.log"), port, method) + socksRules
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	return []string{"-f", conf, "-p", filepath.Join(dir, "danted.pid")}, nil
}
