package cli

import (
	"os"
	"runtime/pprof"

	"github.com/spf13/pflag"
)

// addProfileFlag registers the daemon's hidden --cpuprofile flag: the
// benchmark (go run ./bench -profile DIR) uses it to show where the time
// of a connection goes. It is hidden because operators do not need it.
func addProfileFlag(fs *pflag.FlagSet, path *string) {
	fs.StringVar(path, "cpuprofile", "", "write a CPU profile of the daemon's whole run to this file")
	fs.MarkHidden("cpuprofile")
}

// startCPUProfile starts profiling into path; stop writes the profile out.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
