package wasm

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// 100,000 resets of a module that writes its memory, global and table:
// resident memory stays flat (the old instance is freed each time).
func TestResetSoakKeepsRSSFlat(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("100,000 resets are too slow under -race or -short")
	}
	for _, pooled := range []bool{false, true} {
		name := map[bool]string{false: "on-demand", true: "pooled"}[pooled]
		t.Run(name, func(t *testing.T) {
			var opts []Option
			if pooled {
				opts = append(opts, WithPooling(true), WithMaxModules(4))
			}
			h := newHost(t, opts...)
			m := load(t, h, "reset_state")
			ctx, cancel := context.WithCancel(context.Background()) // a ctx that can end: the token path
			defer cancel()
			const warmup, resets = 10_000, 100_000
			var before int64
			start := time.Now()
			var warmStart time.Time
			for i := 1; i <= resets; i++ {
				if i%1000 == 0 {
					callI32(t, m, "grow", 15) // 1 MiB in all, given back by the reset
					if _, err := m.CallWithTimeout(ctx, "mutate"); err != nil {
						t.Fatal(err)
					}
				}
				if err := m.Reset(ctx); err != nil {
					t.Fatalf("reset %d: %v", i, err)
				}
				if i%1000 == 0 && resetState(t, m) != pristine {
					t.Fatalf("reset %d: state %v, want %v", i, resetState(t, m), pristine)
				}
				if i == warmup {
					runtime.GC()
					before = rss(t)
					warmStart = time.Now()
				}
			}
			elapsed := time.Since(start)
			perReset := time.Since(warmStart) / (resets - warmup)
			runtime.GC()
			after := rss(t)
			t.Logf("%d resets in %v (%v each after warm-up); RSS %d MiB after %d, %d MiB after %d",
				resets, elapsed.Round(time.Millisecond), perReset, before>>20, warmup, after>>20, resets)
			if growth := after - before; growth > 32<<20 {
				t.Fatalf("RSS grew by %d MiB over %d resets", growth>>20, resets-warmup)
			}
			if s := m.Stats(); s.Resets != resets {
				t.Fatalf("Stats().Resets = %d, want %d", s.Resets, resets)
			}
		})
	}
}
