//go:build !race

package server

const udpHeapUnderRace = false
