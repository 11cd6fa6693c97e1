//go:build race

package server

// udpHeapUnderRace: the race detector's shadow memory and larger stacks
// make heap figures meaningless, so TestUDPAssociationIdleHeap only logs.
const udpHeapUnderRace = true
