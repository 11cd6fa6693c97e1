package daemon

import (
	"os"
	"runtime/pprof"
)

// StartCPUProfile starts profiling the whole process into path (the
// daemon's hidden --cpuprofile, which the benchmark uses); stop writes the
// profile out.
func StartCPUProfile(path string) (stop func(), err error) {
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
