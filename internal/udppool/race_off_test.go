//go:build !race

package udppool

const raceEnabled = false
