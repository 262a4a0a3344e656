package wasm

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// fuelOf calls fn and returns the fuel the call used (Module.FuelConsumed),
// whatever the call's outcome.
func fuelOf(t *testing.T, m *Module, ctx context.Context, fn string, params ...uint64) (uint64, error) {
	t.Helper()
	_, err := m.CallWithTimeout(ctx, fn, params...)
	fuel, ferr := m.FuelConsumed()
	if ferr != nil {
		t.Fatal(ferr)
	}
	return fuel, err
}

// Stats count exactly what the calls did: calls, failures by kind, fuel
// (a call stopped by its timeout counts the fuel it used), call time.
func TestModuleStatsMatchWhatCallsDid(t *testing.T) {
	h := newHost(t, WithFuelLimit(1<<50), WithWASI(WASIConfig{}))
	ctx := context.Background()

	add := load(t, h, "add")
	var fuel uint64
	for i := range 3 {
		f, err := fuelOf(t, add, ctx, "add", uint64(i), 1)
		if err != nil || f == 0 {
			t.Fatalf("add: fuel %d, %v", f, err)
		}
		fuel += f
	}
	// Refused before guest code runs: not counted.
	if _, err := add.CallWithTimeout(ctx, "nope"); !errors.Is(err, ErrExportNotFound) {
		t.Fatal(err)
	}
	if _, err := add.CallWithTimeout(ctx, "add", 1); !errors.Is(err, ErrSignatureMismatch) {
		t.Fatal(err)
	}
	if s := add.Stats(); s != (ModuleStats{Calls: 3, CallTime: s.CallTime, FuelConsumed: fuel,
		MemoryBytes: 0, MemoryPeakBytes: 0}) || s.CallTime <= 0 {
		t.Fatalf("add stats %+v, want 3 calls, fuel %d, some call time", s, fuel)
	}

	trap := load(t, h, "trap_unreachable")
	for range 2 {
		if _, err := trap.CallWithTimeout(ctx, "run"); !errors.Is(err, ErrTrap) {
			t.Fatal(err)
		}
	}
	if s := trap.Stats(); s.Calls != 2 || s.Traps != 2 || s.Timeouts+s.Interrupts+s.FuelExhausted+s.HostErrors+s.Exits != 0 {
		t.Fatalf("trap stats %+v, want 2 calls, 2 traps", s)
	}

	// A call stopped by its deadline counts the fuel it used. (Wasmtime
	// flushes a function's fuel to the store at calls and returns, not at
	// the epoch check that stops a loop: call_then_spin's fuel up to its
	// call of f is what is known.)
	var failF atomic.Bool
	defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		if failF.Load() {
			return errors.New("no")
		}
		return nil
	})
	hc := loadHostCall(t, h)
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	timedOut, err := fuelOf(t, hc, tctx, "call_then_spin")
	if !errors.Is(err, ErrTimeout) || timedOut == 0 {
		t.Fatalf("call_then_spin under a deadline: fuel %d, %v; want ErrTimeout and the fuel it used", timedOut, err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, ccancel)
	interrupted, err := fuelOf(t, hc, cctx, "call_then_spin")
	if !errors.Is(err, ErrInterrupted) || interrupted == 0 {
		t.Fatalf("call_then_spin cancelled: fuel %d, %v; want ErrInterrupted and the fuel it used", interrupted, err)
	}
	failF.Store(true)
	failed, err := fuelOf(t, hc, ctx, "loop", 1)
	if !errors.Is(err, ErrHostFunction) {
		t.Fatal(err)
	}
	s := hc.Stats()
	if s.Calls != 3 || s.Timeouts != 1 || s.Interrupts != 1 || s.HostErrors != 1 || s.Traps != 0 ||
		s.FuelConsumed != timedOut+interrupted+failed || s.CallTime < 70*time.Millisecond ||
		s.MemoryBytes != 64<<10 || s.MemoryPeakBytes != 64<<10 {
		t.Fatalf("hostcall stats %+v, want 3 calls: 1 timeout, 1 interrupt, 1 host error; fuel %d; 70ms or more; one page",
			s, timedOut+interrupted+failed)
	}

	exit := loadWASI(t, h, "exit3")
	if err := exit.Run(ctx); !errors.Is(err, ErrExit) {
		t.Fatal(err)
	}
	if s := exit.Stats(); s.Calls != 1 || s.Exits != 1 || s.Traps != 0 {
		t.Fatalf("exit3 stats %+v, want 1 call, 1 exit", s)
	}

	// Stats outlive Close; the memory is given back.
	hc.Close(ctx)
	if s := hc.Stats(); s.Calls != 3 || s.HostErrors != 1 || s.MemoryBytes != 0 || s.MemoryPeakBytes != 64<<10 {
		t.Fatalf("stats after Close %+v, want the counters kept and no memory", s)
	}
	if hs := h.Stats(); hs.LiveModules != 3 || hs.CompiledModules != 0 || hs.Pools != 0 {
		t.Fatalf("HostStats %+v, want 3 live modules", hs)
	}
}

func TestModuleStatsFuelExhausted(t *testing.T) {
	h := newHost(t, WithFuelLimit(10_000))
	m := load(t, h, "infinite_loop")
	fuel, err := fuelOf(t, m, context.Background(), "loop")
	if !errors.Is(err, ErrFuelExhausted) {
		t.Fatal(err)
	}
	if s := m.Stats(); s.Calls != 1 || s.FuelExhausted != 1 || s.FuelConsumed != fuel || fuel != 10_000 {
		t.Fatalf("stats %+v (last call fuel %d), want 1 call out of its 10000 fuel", s, fuel)
	}
}

// Stats answer while a call runs: they take none of its locks.
func TestStatsDuringACall(t *testing.T) {
	h := newHost(t)
	m := load(t, h, "infinite_loop")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := m.CallWithTimeout(ctx, "loop"); done <- err }()
	waitFor(t, func() bool { return callRunning(m) })
	for range 1000 {
		if s := m.Stats(); s.Calls != 0 {
			t.Fatalf("stats during the first call: %+v", s)
		}
		h.Stats()
	}
	cancel()
	if err := <-done; !errors.Is(err, ErrInterrupted) {
		t.Fatal(err)
	}
	if s := m.Stats(); s.Calls != 1 || s.Interrupts != 1 {
		t.Fatalf("stats %+v, want 1 interrupted call", s)
	}
}

// callRunning says whether a call holds m's lock.
func callRunning(m *Module) bool {
	if m.lk.tryLock() {
		m.lk.unlock()
		return false
	}
	return true
}

// Stats races Close safely (run with -race) and costs no allocation.
func TestStatsRaceClose(t *testing.T) {
	h := newHost(t)
	c := compile(t, h, "add")
	for range 50 {
		m, err := c.Instantiate(context.Background(), "add")
		if err != nil {
			t.Fatal(err)
		}
		callI32(t, m, "add", 1, 2)
		done := make(chan struct{})
		for range 2 {
			go func() {
				defer func() { done <- struct{}{} }()
				for range 20 {
					if s := m.Stats(); s.Calls != 1 {
						t.Errorf("Stats().Calls = %d, want 1 (before and after Close)", s.Calls)
						return
					}
					h.Stats()
				}
			}()
		}
		m.Close(context.Background())
		<-done
		<-done
	}
	if raceEnabled {
		return // the race detector's instrumentation allocates
	}
	m := load(t, h, "add")
	if n := testing.AllocsPerRun(100, func() { _ = m.Stats() }); n != 0 {
		t.Fatalf("Module.Stats allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = h.Stats() }); n != 0 {
		t.Fatalf("Host.Stats allocates %v times", n)
	}
}
