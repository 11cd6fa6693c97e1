package main

import (
	"strconv"
	"syscall"
	"time"
)

// clockTick is the unit of the times in /proc/PID/stat: USER_HZ, 100 on
// every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// treeCPU is the processor time (user and system) a process tree has used,
// including its threads and children that have ended and were waited for.
func treeCPU(pid int) time.Duration {
	var total time.Duration
	for _, p := range processTree(pid) {
		f := statFields(p)
		for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
			if i < len(f) {
				n, _ := strconv.ParseInt(f[i], 10, 64)
				total += time.Duration(n) * clockTick
			}
		}
	}
	return total
}

// selfCPU is the benchmark's own processor time: the clients.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter reads, at the start and end of a measured window, the processor
// time of a server and of the load generator (the benchmark's clients and
// its target process), so that the connection-rate workload can say what
// each side spent per connection. On loopback the two are linked: the
// kernel's receive work runs in the sender's time, and a server that
// answers late leaves the clients idle, which costs their runtime more.
type cpuMeter struct {
	server, target int // process ids; 0 when there is none (direct)
}

type cpuSample struct{ server, load time.Duration }

func (m cpuMeter) sample() cpuSample {
	var s cpuSample
	if m.server != 0 {
		s.server = treeCPU(m.server)
	}
	s.load = selfCPU()
	if m.target != 0 {
		s.load += treeCPU(m.target)
	}
	return s
}
