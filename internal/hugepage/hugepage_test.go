package hugepage

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// vmFlags returns the VmFlags of the mapping of /proc/self/smaps that
// holds addr.
func vmFlags(t *testing.T, addr uintptr) []string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps here: %v", err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := mappingRange(line); ok {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Fields(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return nil
}

func mappingRange(line string) (lo, hi uintptr, ok bool) {
	r, _, found := strings.Cut(line, " ")
	a, b, dash := strings.Cut(r, "-")
	if !found || !dash {
		return 0, 0, false
	}
	l, err1 := strconv.ParseUint(a, 16, 64)
	h, err2 := strconv.ParseUint(b, 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uintptr(l), uintptr(h), true
}

func thpEnabled(t *testing.T) {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(b), "[never]") {
		t.Skipf("transparent huge pages are off here (%q, %v)", b, err)
	}
}

// A large array's whole huge pages are advised (the kernel marks their
// mapping "hg"), and the memory around them is not.
func TestAdviseMarksTheWholeHugePagesInside(t *testing.T) {
	thpEnabled(t)
	s := make([]uint64, 5*size/8+123)
	base := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	first := (base + size - 1) &^ (size - 1)
	if contains(vmFlags(t, first), "hg") {
		t.Skip("this memory was advised before: nothing to tell")
	}
	headBefore := vmFlags(t, base)
	Advise(s)
	if flags := vmFlags(t, first); !contains(flags, "hg") {
		t.Errorf("first whole huge page at %#x: VmFlags %v, want hg", first, flags)
	}
	if base != first && contains(vmFlags(t, base), "hg") != contains(headBefore, "hg") {
		t.Errorf("the part before the first huge page boundary was advised too: VmFlags %v", vmFlags(t, base))
	}
}

// A small array is left alone: advising would split its mapping for no
// whole huge page.
func TestAdviseLeavesSmallArraysAlone(t *testing.T) {
	thpEnabled(t)
	s := make([]byte, minBytes-1)
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	mid := (addr + size - 1) &^ (size - 1) // inside s: it spans a boundary
	before := contains(vmFlags(t, mid), "hg")
	Advise(s)
	if after := contains(vmFlags(t, mid), "hg"); after != before {
		t.Errorf("a %d-byte array was advised: VmFlags %v", len(s), vmFlags(t, mid))
	}
	Advise([]int(nil)) // and nothing at all does not crash
	Advise(make([]struct{}, 1<<30))
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func ExampleAdvise() {
	rules := make([]int64, 1<<20) // 8 MB, about to be filled
	Advise(rules)
	fmt.Println(len(rules))
	// Output: 1048576
}
