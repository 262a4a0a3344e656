package wasm

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// rss is the resident set size of this process, from /proc/self/statm.
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	fields := strings.Fields(string(b))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

func TestLoadCallCloseCyclesKeepRSSFlat(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("10,000 cycles are too slow under -race or -short")
	}
	const warmup, cycles = 1000, 10_000
	h := newHost(t)
	wasm := fixture(t, "add")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var before int64
	for i := 1; i <= cycles; i++ {
		m, err := h.LoadModule(ctx, "add", wasm)
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if got := callI32(t, m, "add", uint64(i), 1); got != int32(i+1) {
			t.Fatalf("cycle %d: add = %d", i, got)
		}
		if _, err := m.CallWithTimeout(ctx, "add", 1, 2); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if err := m.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if i == warmup {
			runtime.GC()
			before = rss(t)
		}
	}
	runtime.GC()
	after := rss(t)
	t.Logf("RSS after %d cycles: %d MiB; after %d: %d MiB", warmup, before>>20, cycles, after>>20)
	if growth := after - before; growth > 64<<20 {
		t.Fatalf("RSS grew by %d MiB over %d cycles", growth>>20, cycles-warmup)
	}
}
