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

// BenchmarkBareWatch is BenchmarkChange's baseline: the same commit seen
// by a plain head watch, with no record.
func BenchmarkBareWatch(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			write(b, s.other, "master", map[string]string{"tests/n": "0"})
			br, err := s.rec.Branch("master")
			if err != nil {
				b.Fatal(err)
			}
			w, err := br.WatchHead(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			if _, err := w.Next(b.Context()); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 1; i <= b.N; i++ {
				id := write(b, s.other, "master", map[string]string{"tests/n": strconv.Itoa(i)})
				for h, err := w.Next(b.Context()); h != id; h, err = w.Next(b.Context()) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
