//go:build !linux

package server

// watchClient is a no-op where POLLRDHUP is missing: a pending connect or
// BIND is then released at its timeout, as the client's close cannot be
// seen without reading the data it may have sent behind its request.
func (ss *session) watchClient(left func()) (stop func()) { return func() {} }
