package socks

import (
	"errors"
	"io"
)

// MaxMessageLen is the longest message of any kind (a SOCKS4a request with
// a 255-byte USERID and a 255-byte host name). A Reader whose buffer holds
// at least this many bytes can read every message; a larger buffer lets a
// single read also take in more of what the client pipelines behind it.
const MaxMessageLen = MaxV4RequestLen

// maxEmptyReads bounds how often a Reader retries a source that returns no
// bytes and no error, as io.ReadFull and bufio do.
const maxEmptyReads = 100

// Reader reads SOCKS messages from a stream into a fixed buffer supplied by
// the caller. Each read asks for as much as the buffer can take, so a
// message costs one read call in the common case, never one per byte. Bytes
// that arrive behind a message stay in the buffer for the next Read call or
// for Buffered: nothing the peer sent is lost.
//
// A Reader does not set deadlines; set them on the connection. It is not
// safe for concurrent use.
type Reader struct {
	src        io.Reader
	buf        []byte
	start, end int   // buf[start:end] is read but not yet consumed
	err        error // a read error that came with data, returned on the next read
}

// NewReader returns a Reader that reads from src into buf. The Reader owns
// buf until the caller is done with it; a buf shorter than the messages it
// must hold makes those reads fail with ErrTooLong (see MaxMessageLen).
func NewReader(src io.Reader, buf []byte) *Reader {
	return &Reader{src: src, buf: buf}
}

// NewReaderBuffered is NewReader for a buf whose first n bytes were
// already read from src: a server that began a handshake elsewhere (see the
// daemon's event loop) hands the rest of it over without losing a byte.
func NewReaderBuffered(src io.Reader, buf []byte, n int) *Reader {
	return &Reader{src: src, buf: buf, end: n}
}

// Buffered returns the bytes read from the source but not consumed by a
// message. A server must forward them before relaying: they are data the
// client sent right behind its request. The slice aliases the Reader's
// buffer and is valid until the next call on the Reader.
func (r *Reader) Buffered() []byte { return r.buf[r.start:r.end] }

// PeekVersion returns the first unconsumed byte without consuming it,
// reading if needed: a server on one port tells SOCKS4 (4) from SOCKS5 (5)
// by it. At end of stream before any byte it returns io.EOF.
func (r *Reader) PeekVersion() (byte, error) {
	for r.start == r.end {
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	return r.buf[r.start], nil
}

// ReadV4Request reads a SOCKS4 or SOCKS4a request (see ParseV4Request).
func (r *Reader) ReadV4Request() (V4Request, error) { return readMessage(r, ParseV4Request) }

// ReadV4Reply reads a SOCKS4 reply (see ParseV4Reply).
func (r *Reader) ReadV4Reply() (V4Reply, error) { return readMessage(r, ParseV4Reply) }

// ReadV5Greeting reads a SOCKS5 greeting (see ParseV5Greeting).
func (r *Reader) ReadV5Greeting() (V5Greeting, error) { return readMessage(r, ParseV5Greeting) }

// ReadV5MethodChoice reads a SOCKS5 method selection (see ParseV5MethodChoice).
func (r *Reader) ReadV5MethodChoice() (Method, error) { return readMessage(r, ParseV5MethodChoice) }

// ReadV5Request reads a SOCKS5 request (see ParseV5Request).
func (r *Reader) ReadV5Request() (V5Request, error) { return readMessage(r, ParseV5Request) }

// ReadV5Reply reads a SOCKS5 reply (see ParseV5Reply).
func (r *Reader) ReadV5Reply() (V5Reply, error) { return readMessage(r, ParseV5Reply) }

// ReadUserPass reads an RFC 1929 request (see ParseUserPass).
func (r *Reader) ReadUserPass() (UserPass, error) { return readMessage(r, ParseUserPass) }

// ReadUserPassReply reads an RFC 1929 reply (see ParseUserPassReply).
func (r *Reader) ReadUserPassReply() (UserPassStatus, error) {
	return readMessage(r, ParseUserPassReply)
}

// readMessage parses one message from the buffer, reading more until parse
// stops asking for it. A stream that ends inside a message yields
// io.ErrUnexpectedEOF, one that ends before it io.EOF.
func readMessage[T any](r *Reader, parse func([]byte) (T, int, error)) (T, error) {
	for {
		msg, n, err := parse(r.buf[r.start:r.end])
		if err == nil {
			r.start += n
			if r.start == r.end {
				r.start, r.end = 0, 0
			}
			return msg, nil
		}
		if err != ErrIncomplete {
			var zero T
			return zero, err
		}
		if err := r.fill(); err != nil {
			var zero T
			return zero, err
		}
	}
}

// fill reads at least one more byte into the buffer, or fails.
func (r *Reader) fill() error {
	if r.err != nil {
		err := r.err
		r.err = nil
		return r.eofError(err)
	}
	if r.end == len(r.buf) {
		if r.start == 0 {
			return &FieldError{Err: ErrTooLong, Field: "message", Value: len(r.buf)}
		}
		// Move the partial message to the front to make room behind it.
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	for range maxEmptyReads {
		n, err := r.src.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			return errors.New("socks: source returned an invalid count")
		}
		r.end += n
		if n > 0 {
			// Return the data first; the error, if any, on the next fill.
			r.err = err
			return nil
		}
		if err != nil {
			return r.eofError(err)
		}
	}
	return io.ErrNoProgress
}

// eofError turns io.EOF into io.ErrUnexpectedEOF when a message has begun.
func (r *Reader) eofError(err error) error {
	if err == io.EOF && r.end > r.start {
		return io.ErrUnexpectedEOF
	}
	return err
}
