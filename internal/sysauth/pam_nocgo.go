//go:build !(cgo && linux)

package sysauth

import "errors"

// Without cgo (or off Linux) there is no PAM to ask: every check fails,
// and the daemon refuses -a p / --auth-system at start (Available).
func pamAuthenticate(service, user, password string) error {
	return errors.New("host accounts need PAM: this build has no cgo")
}

func pamAvailable() bool { return false }
