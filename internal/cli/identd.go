package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/ident"
	"github.com/sockd/sockd/internal/logline"
	"github.com/sockd/sockd/internal/privdrop"
)

// newIdentdCmd is "socks identd": the Identification Daemon that the
// InfoConnect page tells users of servers run with -i or -I to run. The
// protocol server is ident.Server; this is its command line.
func newIdentdCmd() *cobra.Command {
	var (
		listen      []string
		runAs       string
		hidden      bool
		maxConns    int
		readTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "identd",
		Short: "RFC 1413 identd: tell SOCKS servers run with -i/-I which user owns a connection of this host",
		Long: `socks identd answers RFC 1413 queries for the TCP connections of this host (IPv4 and IPv6) from
the kernel's socket tables, so that a SOCKS server started with -i or -I (or a rule with ?=I,
?=i, or danted's rfc931 method) can confirm the user a client claims.

Without --listen it listens on port 113 of every address. Started as root, it binds, then
runs as --user (default nobody): the socket tables are readable by anyone. --hidden answers
HIDDEN-USER for every connection it finds, which confirms a connection exists without naming
its user (a server run with -I then refuses; with -i it serves).

Every query line is bounded (128 bytes), each waits at most --read-timeout, one connection may
ask 16 questions, and at most --max-conns connections are served at once (more are closed).`,
		Example: `  socks identd                                  # port 113, every address, then runs as nobody
  socks identd --listen 192.0.2.7:113 --listen '[2001:db8::7]:113'
  socks identd --hidden --user identd`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxConns <= 0 || readTimeout <= 0 {
				return usagef("--max-conns and --read-timeout must be positive")
			}
			log := logline.New(cmd.ErrOrStderr(), logline.FormatText, slog.LevelInfo)
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			lns, err := ident.ListenAll(ctx, listen)
			if err != nil {
				return fmt.Errorf("cannot listen: %w", err)
			}
			// Privileges go once port 113 is bound: as root by default,
			// and whenever --user names someone.
			if os.Geteuid() == 0 || cmd.Flags().Changed("user") {
				if err := privdrop.To(runAs); err != nil {
					for _, ln := range lns {
						ln.Close()
					}
					return err
				}
			}
			srv := &ident.Server{Hidden: hidden, MaxConns: maxConns, ReadTimeout: readTimeout, Logger: log}
			for _, ln := range lns {
				log.Info("identd listening", "address", ln.Addr().String(), "uid", os.Geteuid(), "hidden", hidden)
			}
			err = srv.ServeAll(ctx, lns)
			log.Info("identd stopped")
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&listen, "listen", nil, "address to answer on, ADDR:PORT or [IPv6]:PORT (repeatable; default :113, every address)")
	fs.StringVar(&runAs, "user", "nobody", "after binding, run as this user (done when started as root, or when given)")
	fs.BoolVar(&hidden, "hidden", false, "answer ERROR : HIDDEN-USER instead of the user's name")
	fs.IntVar(&maxConns, "max-conns", ident.DefaultMaxConns, "connections served at once; more are closed")
	fs.DurationVar(&readTimeout, "read-timeout", ident.DefaultReadTimeout, "wait for each query line at most this long")
	return cmd
}
