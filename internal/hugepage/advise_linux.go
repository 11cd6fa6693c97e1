package hugepage

import "golang.org/x/sys/unix"

// advise ignores failure: EINVAL where the kernel has no transparent huge
// pages changes nothing but the speed.
func advise(b []byte) { _ = unix.Madvise(b, unix.MADV_HUGEPAGE) }
