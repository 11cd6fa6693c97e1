// Package hugepage asks the kernel to back a large, fresh allocation with
// transparent huge pages.
//
// Loading a large configuration fills tens of megabytes of memory the
// process has never touched. With 4 KB pages every one of them is a page
// fault, a large share of the start from a large frozen file. Systems
// whose transparent huge pages are in "madvise" mode (Debian's default)
// give 2 MB pages only to memory that asked for them, and Go's runtime
// does not ask; Advise asks for the few large arrays a configuration is
// built in, which takes most of those faults away (the figures are in
// docs/measurements.md).
//
// Only the whole 2 MB pages inside an allocation are advised, so no other
// object shares a huge page by this package's doing. The advice is a hint:
// where huge pages are off or unavailable, nothing changes.
package hugepage

import "unsafe"

// size is the huge page size of x86-64 and of arm64 with 4 KB pages, the
// machines this matters on; with another size the hint only covers fewer
// or more pages than it could.
const size = 2 << 20

// minBytes keeps the hint to allocations that hold at least one whole huge
// page wherever they start.
const minBytes = 2 * size

// Advise hints that s's backing array, up to its capacity, should get huge
// pages. Call it right after making s, before its memory is first written:
// pages already faulted in stay small.
func Advise[T any](s []T) {
	var zero T
	n := uintptr(cap(s)) * unsafe.Sizeof(zero)
	if n < minBytes {
		return
	}
	p := unsafe.Pointer(unsafe.SliceData(s))
	skip := -uintptr(p) & (size - 1) // to the first huge page boundary
	whole := (n - skip) &^ (size - 1)
	if whole == 0 {
		return
	}
	advise(unsafe.Slice((*byte)(unsafe.Add(p, skip)), whole))
}
