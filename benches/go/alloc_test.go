// Go's own allocator on the sizes the allocator chapter measures for GoAlloc:
// one heap allocation per operation, kept alive through a package-level
// sink so that escape analysis cannot put it on the stack.
//
// Run by `cargo run --release -- book` when `go` is installed
// (GOMAXPROCS=1, `go test -bench . -benchmem`); the book's go.md table is
// generated from its output. By hand:
//
//	cd benches/go && GOMAXPROCS=1 go test -bench . -benchmem
//
// The fact a reader gets wrong: a Go allocation is not the Rust alloc+free
// pair. Go zeroes every allocation (a []byte is always zeroed), and the
// garbage collector, not a free, returns it; the time per operation
// includes that share of the collector's work and its pacing.
package gobench

import (
	"strconv"
	"testing"
)

var sink []byte

// Sizes as in the allocator bench's "alloc+free pair" rows.
var sizes = []int{8, 16, 33, 64, 1024, 1025, 32 << 10, 64 << 10, 1 << 20}

func name(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	default:
		return strconv.Itoa(n) + "B"
	}
}

// BenchmarkByteSlice allocates one zeroed, pointer-free []byte of each size;
// below 16 B that is Go's tiny allocator.
func BenchmarkByteSlice(b *testing.B) {
	for _, n := range sizes {
		n := n
		b.Run(name(n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				sink = make([]byte, n)
			}
		})
	}
}
