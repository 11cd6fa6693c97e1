package cli

// "sockd --workers N": the flag and its wiring. The supervisor, how it
// starts workers, and the worker's side are internal/supervisor.

import (
	"github.com/spf13/pflag"

	"github.com/sockd/sockd/internal/supervisor"
)

func addWorkersFlag(fs *pflag.FlagSet, f *serveFlags) {
	fs.IntVar(&f.workers, "workers", 1, "serve with N worker processes sharing the listeners (each with its own open file limit); "+
		"the first process binds, supervises and restarts them, and splits --max-clients among them")
}

// validateWorkers checks --workers against the flags it cannot go with.
func (f *serveFlags) validateWorkers() error {
	switch {
	case f.workers < 1 || f.workers > supervisor.MaxWorkers:
		return usagef("--workers must be between 1 and %d", supervisor.MaxWorkers)
	case f.workers == 1:
		return nil
	case f.inetd:
		return usagef("--inetd serves one connection: --workers makes no sense with it")
	case f.ops.MetricsListen != "":
		// Each worker counts only its own sessions: one endpoint would
		// report a fraction, and one per worker cannot share the address.
		return usagef("--metrics-listen cannot be combined with --workers %d: every worker would count only its own sessions (use --workers 1, or one sockd per metrics address)", f.workers)
	case f.maxClients > 0 && f.maxClients < f.workers:
		return usagef("--max-clients %d is split among %d workers: give at least one per worker", f.maxClients, f.workers)
	}
	return nil
}

// flagArgs rebuilds the command line from the flags that were set, so the
// workers run with exactly the options the supervisor parsed.
func flagArgs(fs *pflag.FlagSet) []string {
	var args []string
	fs.Visit(func(fl *pflag.Flag) {
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+fl.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+fl.Name+"="+fl.Value.String())
	})
	return args
}
