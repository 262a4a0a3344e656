package wasm

import (
	"context"
	"testing"
)

// Instantiate + Close of a compiled module, against LoadModule of the same
// (cached) bytes; pooled and on demand; add.wasm (no memory) and
// reset_state.wasm (a memory, a table, a global).
func BenchmarkInstantiateClose(b *testing.B) {
	for _, pooled := range []bool{false, true} {
		for _, name := range []string{"add", "reset_state"} {
			alloc := map[bool]string{false: "on-demand", true: "pooled"}[pooled]
			b.Run(alloc+"/"+name, func(b *testing.B) {
				var opts []Option
				if pooled {
					opts = append(opts, WithPooling(true), WithMaxModules(16))
				}
				h := newHost(b, opts...)
				c := compile(b, h, name)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					m, err := c.Instantiate(ctx, name)
					if err != nil {
						b.Fatal(err)
					}
					m.Close(ctx)
				}
			})
			b.Run(alloc+"/"+name+"/LoadModule", func(b *testing.B) {
				var opts []Option
				if pooled {
					opts = append(opts, WithPooling(true), WithMaxModules(16))
				}
				h := newHost(b, opts...)
				wasm := fixture(b, name)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					m, err := h.LoadModule(ctx, name, wasm)
					if err != nil {
						b.Fatal(err)
					}
					m.Close(ctx)
				}
			})
		}
	}
}

// Reset of a module that touched pages pages (64 KiB each) of its memory.
func BenchmarkReset(b *testing.B) {
	for _, pooled := range []bool{false, true} {
		for _, pages := range []int{1, 16, 256} {
			alloc := map[bool]string{false: "on-demand", true: "pooled"}[pooled]
			b.Run(alloc+"/"+map[int]string{1: "64KiB", 16: "1MiB", 256: "16MiB"}[pages], func(b *testing.B) {
				var opts []Option
				if pooled {
					opts = append(opts, WithPooling(true), WithMaxModules(4))
				}
				h := newHost(b, opts...)
				m := load(b, h, "reset_state")
				ctx := context.Background()
				page := make([]byte, 64<<10)
				for i := range page {
					page[i] = byte(i)
				}
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					if pages > 1 {
						callI32(b, m, "grow", uint64(pages-1))
					}
					for p := range pages {
						if !m.Memory().Write(uint32(p<<16), page) {
							b.Fatal("write failed")
						}
					}
					b.StartTimer()
					if err := m.Reset(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// A call through a pool against the same call on a module.
func BenchmarkPoolCall(b *testing.B) {
	h := newHost(b)
	c := compile(b, h, "add")
	p, err := c.NewPool(4)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.CallWithTimeout(ctx, "add", 1, 2); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPoolCallResetEachCall(b *testing.B) {
	h := newHost(b, WithPooling(true), WithMaxModules(8))
	c := compile(b, h, "reset_state")
	p, err := c.NewPool(4, WithResetAfterEachCall())
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.CallWithTimeout(ctx, "remember", 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkModuleStats(b *testing.B) {
	h := newHost(b)
	m := load(b, h, "add")
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Stats()
	}
}
