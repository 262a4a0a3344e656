package wasm

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Ten modules that each try to grow to 32 MiB under a 128 MiB budget:
// growth stops at the budget (memory.grow returns -1 in the guest), an
// instantiation past it fails with ErrResourceLimit naming the budget, and
// closing modules gives their bytes back. Pooled and on demand.
func TestHostMemoryBudget(t *testing.T) {
	for _, pooled := range []bool{false, true} {
		name := "on-demand"
		if pooled {
			name = "pooled"
		}
		t.Run(name, func(t *testing.T) { testHostMemoryBudget(t, pooled) })
	}
}

func testHostMemoryBudget(t *testing.T, pooled bool) {
	const page, budget = 64 << 10, 128 << 20
	opts := []Option{WithMemoryLimit(32 << 20), WithHostMemoryLimit(budget)}
	if pooled {
		opts = append(opts, WithPooling(true), WithMaxModules(16))
	}
	h := newHost(t, opts...)
	c := compile(t, h, "memory_bomb")
	ctx := context.Background()
	mods := make([]*Module, 10)
	for i := range mods {
		m, err := c.Instantiate(ctx, "bomb")
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		mods[i] = m
	}
	if s := h.Stats(); s.MemoryBytes != 10*page || s.MemoryLimitBytes != budget {
		t.Fatalf("HostStats after 10 instances = %+v, want 10 pages against a %d-byte budget", s, budget)
	}
	// Each grows a page at a time until memory.grow says -1: the first
	// three reach their own 32 MiB limit, the fourth takes what is left
	// (2048 - 3*512 - 6 idle pages = 506), the others cannot grow at all.
	want := []int32{512, 512, 512, 506, 1, 1, 1, 1, 1, 1}
	for i, m := range mods {
		if got := callI32(t, m, "grow_all"); got != want[i] {
			t.Fatalf("module %d grew to %d pages, want %d", i, got, want[i])
		}
	}
	s := h.Stats()
	if s.MemoryBytes != budget || s.MemoryPeakBytes != budget {
		t.Fatalf("HostStats = %+v, want %d bytes now and at peak", s, budget)
	}
	if s.PooledInstances != map[bool]uint64{false: 0, true: 10}[pooled] {
		t.Fatalf("PooledInstances = %d (pooled %v)", s.PooledInstances, pooled)
	}
	if got := callI32(t, mods[9], "grow", 1); got != -1 {
		t.Fatalf("grow(1) at the budget = %d, want -1", got)
	}
	if ms := mods[3].Stats(); ms.MemoryBytes != 506*page || ms.MemoryPeakBytes != 506*page {
		t.Fatalf("module 3 stats %+v, want 506 pages", ms)
	}

	_, err := c.Instantiate(ctx, "one too many")
	if !errors.Is(err, ErrResourceLimit) || !strings.Contains(err.Error(), "memory budget is 134217728 bytes") {
		t.Fatalf("instantiation past the budget: %v, want ErrResourceLimit naming the 134217728-byte budget", err)
	}
	_, err = h.LoadModule(ctx, "one too many", fixture(t, "memory_bomb"))
	if !errors.Is(err, ErrResourceLimit) {
		t.Fatalf("load past the budget: %v, want ErrResourceLimit", err)
	}

	// Closing a module gives its 32 MiB back; another can then take them.
	mods[0].Close(ctx)
	if s := h.Stats(); s.MemoryBytes != budget-512*page {
		t.Fatalf("MemoryBytes after closing a 32 MiB module = %d, want %d", s.MemoryBytes, budget-512*page)
	}
	if got := callI32(t, mods[9], "grow_all"); got != 512 {
		t.Fatalf("module 9 grew to %d pages once bytes were free, want 512", got)
	}
	// A reset gives back what the module grew and takes its initial page.
	if err := mods[9].Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if s := h.Stats(); s.MemoryBytes != budget-512*page {
		t.Fatalf("MemoryBytes after a reset = %d, want %d", s.MemoryBytes, budget-512*page)
	}
	for _, m := range mods {
		m.Close(ctx)
	}
	if s := h.Stats(); s.MemoryBytes != 0 || s.LiveModules != 0 || s.MemoryPeakBytes != budget {
		t.Fatalf("HostStats after closing all = %+v, want 0 bytes and 0 modules, peak %d", s, budget)
	}
}

func TestWithHostMemoryLimitRejectedByLibrary(t *testing.T) {
	_, err := NewHost(WithHostMemoryLimit(1000))
	if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), "WithHostMemoryLimit(1000)") ||
		!strings.Contains(err.Error(), "SBX_STATUS_INVALID_ARGUMENT") {
		t.Fatalf("WithHostMemoryLimit(1000): %v, want ErrInvalidOption with the library's status", err)
	}
	h := newHost(t, WithHostMemoryLimit(64<<10))
	if s := h.Stats(); s.MemoryLimitBytes != 64<<10 {
		t.Fatalf("MemoryLimitBytes = %d, want 65536", s.MemoryLimitBytes)
	}
}
