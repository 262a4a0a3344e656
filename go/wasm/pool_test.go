package wasm

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newPool(t testing.TB, c *CompiledModule, size int, opts ...LoadOption) *Pool {
	t.Helper()
	p, err := c.NewPool(size, opts...)
	if err != nil {
		t.Fatalf("NewPool(%d): %v", size, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// 1,000 goroutines on a pool of 16: never more than 16 instances, every
// call answered, and the stats count each one.
func TestPoolManyGoroutines(t *testing.T) {
	const size, goroutines, callsEach = 16, 1000, 5
	h := newHost(t)
	c := compile(t, h, "add")
	p := newPool(t, c, size)
	if s := h.Stats(); s.Pools != 1 {
		t.Fatalf("HostStats.Pools = %d, want 1", s.Pools)
	}

	var maxLive, maxInstances atomic.Uint64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() { // samples the counts while the calls run
		defer close(watched)
		for {
			if n := h.Stats().LiveModules; n > maxLive.Load() {
				maxLive.Store(n)
			}
			if n := uint64(p.Stats().Instances); n > maxInstances.Load() {
				maxInstances.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	var ok atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range callsEach {
				res, err := p.CallWithTimeout(context.Background(), "add", uint64(g), uint64(i))
				if err != nil {
					t.Errorf("goroutine %d call %d: %v", g, i, err)
					return
				}
				if got := DecodeI32(res[0]); got != int32(g+i) {
					t.Errorf("goroutine %d call %d: add = %d, want %d", g, i, got, g+i)
					return
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-watched
	if ok.Load() != goroutines*callsEach {
		t.Fatalf("%d calls answered, want %d", ok.Load(), goroutines*callsEach)
	}
	if maxLive.Load() > size || maxInstances.Load() > size {
		t.Fatalf("up to %d live modules and %d pool instances, want at most %d", maxLive.Load(), maxInstances.Load(), size)
	}
	s := p.Stats()
	if s.Instances < 1 || s.Instances > size || s.Idle != s.Instances || s.Waiting != 0 {
		t.Fatalf("PoolStats after the calls = %+v, want 1..%d instances, all idle, none waiting", s, size)
	}
	if s.Modules.Calls != goroutines*callsEach || s.Modules.Resets != 0 {
		t.Fatalf("PoolStats.Modules = %+v, want %d calls and no reset", s.Modules, goroutines*callsEach)
	}
	t.Logf("%d calls on %d instances (max live %d)", goroutines*callsEach, s.Instances, maxLive.Load())
}

// A caller waiting for an instance while all are busy gives up as its ctx
// ends, promptly; its deadline is ErrTimeout, a cancel ErrInterrupted.
func TestPoolWaitingCallerHonoursCtx(t *testing.T) {
	h := newHost(t)
	c := compile(t, h, "infinite_loop")
	p := newPool(t, c, 2)
	busy, cancelBusy := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.CallWithTimeout(busy, "loop")
			if !errors.Is(err, ErrInterrupted) {
				t.Errorf("busy call: %v, want ErrInterrupted", err)
			}
		}()
	}
	waitFor(t, func() bool { s := p.Stats(); return s.Instances == 2 && s.Idle == 0 })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.CallWithTimeout(ctx, "loop")
	waited := time.Since(start)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting call: %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if waited > 2*time.Second {
		t.Fatalf("the waiting call returned after %v, want about 50ms", waited)
	}

	cctx, ccancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := p.CallWithTimeout(cctx, "loop"); done <- err }()
	waitFor(t, func() bool { return p.Stats().Waiting == 1 })
	ccancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled waiting call: %v, want ErrInterrupted and Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled waiting call did not return")
	}
	if s := p.Stats(); s.Waiting != 0 || s.Instances != 2 {
		t.Fatalf("PoolStats = %+v, want 2 instances and none waiting", s)
	}
	cancelBusy()
	wg.Wait()
	if s := p.Stats(); s.Modules.Interrupts != 2 || s.Modules.Calls != 2 {
		t.Fatalf("PoolStats.Modules = %+v, want 2 calls, both interrupted", s.Modules)
	}
}

// Closing a pool interrupts its calls (ErrClosed), wakes its waiting
// callers (ErrClosed), closes its instances; later calls fail with ErrClosed.
func TestPoolCloseDuringCalls(t *testing.T) {
	h := newHost(t)
	c := compile(t, h, "infinite_loop")
	p, err := c.NewPool(3)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 5)
	for range 5 {
		go func() { _, err := p.CallWithTimeout(context.Background(), "loop"); errs <- err }()
	}
	waitFor(t, func() bool { s := p.Stats(); return s.Instances == 3 && s.Waiting == 2 })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("call during Close: %v, want ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a call did not return after Pool.Close")
		}
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := p.CallWithTimeout(context.Background(), "loop"); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
	if s := h.Stats(); s.LiveModules != 0 || s.Pools != 0 {
		t.Fatalf("HostStats after Pool.Close = %+v, want no live modules and no pools", s)
	}
	if s := p.Stats(); s.Instances != 0 || s.Idle != 0 || s.Waiting != 0 {
		t.Fatalf("PoolStats after Close = %+v, want no instances", s)
	}
}

// The pool resets an instance whose call failed before reusing it, and
// with WithResetAfterEachCall after every call.
func TestPoolResetPolicies(t *testing.T) {
	h := newHost(t)
	c := compile(t, h, "reset_state")
	p := newPool(t, c, 1)
	if _, err := p.CallWithTimeout(context.Background(), "mutate"); err != nil {
		t.Fatal(err)
	}
	if res, _ := p.CallWithTimeout(context.Background(), "global"); DecodeI32(res[0]) != 99 {
		t.Fatalf("after a successful mutate the pool's instance has global %d, want 99", DecodeI32(res[0]))
	}
	if _, err := p.CallWithTimeout(context.Background(), "mutate_then_trap"); !errors.Is(err, ErrTrap) {
		t.Fatalf("mutate_then_trap: %v, want ErrTrap", err)
	}
	if res, _ := p.CallWithTimeout(context.Background(), "global"); DecodeI32(res[0]) != 7 {
		t.Fatalf("after a failed call the instance has global %d, want 7 (reset)", DecodeI32(res[0]))
	}

	p.Close() // the stats stay
	if s := p.Stats(); s.Instances != 0 || s.Modules.Calls != 4 || s.Modules.Traps != 1 || s.Modules.Resets != 1 {
		t.Fatalf("PoolStats after Close = %+v, want 4 calls, 1 trap, 1 reset", s)
	}

	each := newPool(t, c, 4, WithResetAfterEachCall())
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				res, err := each.CallWithTimeout(context.Background(), "remember", uint64(1000*g+i+1))
				if err != nil || DecodeI32(res[0]) != 0 {
					t.Errorf("remember: %v, %v; want 0 (no earlier input seen)", res, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if s := each.Stats(); s.Modules.Calls != 320 || s.Modules.Resets != 320-uint64(s.Instances) {
		t.Fatalf("PoolStats = %+v, want 320 calls and one reset per call but each instance's first", s)
	}
}

// An instance whose reset fails is dropped, and the pool makes a new one.
func TestPoolDropsInstanceWhoseResetFailed(t *testing.T) {
	h := newHost(t)
	var refuse atomic.Bool
	if err := h.DefineFunction("test", "start", nil, nil, func(ctx context.Context, c *Caller, stack []uint64) error {
		if refuse.Load() {
			return errors.New("start refused")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c := compile(t, h, "start_import")
	p := newPool(t, c, 1, WithResetAfterEachCall())
	if _, err := p.CallWithTimeout(context.Background(), "one"); err != nil {
		t.Fatal(err)
	}
	refuse.Store(true)
	_, err := p.CallWithTimeout(context.Background(), "one")
	if !errors.Is(err, ErrHostFunction) {
		t.Fatalf("call whose pending reset fails: %v, want ErrHostFunction", err)
	}
	if s := p.Stats(); s.Instances != 0 {
		t.Fatalf("PoolStats = %+v, want the closed instance dropped", s)
	}
	refuse.Store(false)
	if res, err := p.CallWithTimeout(context.Background(), "one"); err != nil || DecodeI32(res[0]) != 1 {
		t.Fatalf("call on a new instance: %v, %v", res, err)
	}
	if s := p.Stats(); s.Instances != 1 || s.Modules.Calls != 2 {
		t.Fatalf("PoolStats = %+v, want 1 instance and 2 calls", s)
	}
}

func TestNewPoolErrors(t *testing.T) {
	h := newHost(t)
	c := compile(t, h, "add")
	if _, err := c.NewPool(0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NewPool(0): %v, want ErrInvalidArgument", err)
	}
	if _, err := c.NewPool(1, WithModuleWASI(WASIConfig{Env: []string{"no-equals"}})); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("NewPool(bad WASI): %v, want ErrInvalidOption", err)
	}
	p := newPool(t, c, 1)
	c.Close() // the pool keeps the compiled code
	if res, err := p.CallWithTimeout(context.Background(), "add", 2, 2); err != nil || DecodeI32(res[0]) != 4 {
		t.Fatalf("pool call after the compiled module closed: %v, %v", res, err)
	}
	if _, err := c.NewPool(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewPool after Close: %v, want ErrClosed", err)
	}
	if _, err := p.CallWithTimeout(context.Background(), "nope"); !errors.Is(err, ErrExportNotFound) {
		t.Fatalf("unknown export: %v, want ErrExportNotFound", err)
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Host.Close closes the host's pools: calls in flight and later calls fail
// with ErrClosed, and the pool no longer counts.
func TestHostCloseClosesPools(t *testing.T) {
	h, err := NewHost()
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.CompileModule(context.Background(), fixture(t, "infinite_loop"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.NewPool(2)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	for range 3 {
		go func() { _, err := p.CallWithTimeout(context.Background(), "loop"); errs <- err }()
	}
	waitFor(t, func() bool { s := p.Stats(); return s.Instances == 2 && s.Waiting == 1 })
	if s := h.Stats(); s.Pools != 1 || s.LiveModules != 2 {
		t.Fatalf("HostStats = %+v, want 1 pool, 2 live modules", s)
	}
	h.Close()
	for range 3 {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Errorf("call during Host.Close: %v, want ErrClosed", err)
		}
	}
	if _, err := p.CallWithTimeout(context.Background(), "loop"); !errors.Is(err, ErrClosed) {
		t.Fatalf("pool call after Host.Close: %v, want ErrClosed", err)
	}
	if s := h.Stats(); s.Pools != 0 || s.LiveModules != 0 {
		t.Fatalf("HostStats after Close = %+v, want no pools and no live modules", s)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
