package record_test

import (
	"strconv"
	"testing"
)

// BenchmarkChange measures a change's way from a commit by another
// program to the record's Wait, with ten fields, on each backend.
func BenchmarkChange(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			r := open(b, s.rec, testOptions)
			for i := range 9 {
				intField(b, r, "f"+strconv.Itoa(i), i)
			}
			n := intField(b, r, "n", 0)
			seal(b, r)
			b.ResetTimer()
			for i := 1; i <= b.N; i++ {
				write(b, s.other, "master", map[string]string{"tests/n": strconv.Itoa(i)})
				for got, _ := n.Get(); got != i; got, _ = n.Get() {
					wait(b, r)
				}
			}
		})
	}
}

// BenchmarkSeal measures Seal with ten fields and nothing changed.
func BenchmarkSeal(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			r := open(b, s.rec, testOptions)
			for i := range 10 {
				intField(b, r, "f"+strconv.Itoa(i), i)
			}
			b.ResetTimer()
			for range b.N {
				seal(b, r)
			}
		})
	}
}
