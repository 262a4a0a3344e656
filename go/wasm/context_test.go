package wasm

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Timing bounds are generous: CI is a loaded 2-core VM.
const slack = 2 * time.Second

func TestCancelMidCall(t *testing.T) {
	m := load(t, newHost(t), "infinite_loop")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err := m.CallWithTimeout(ctx, "loop")
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if !errors.Is(err, ErrInterrupted) {
		t.Errorf("err = %v, want ErrInterrupted too", err)
	}
	if elapsed < 15*time.Millisecond || elapsed > slack {
		t.Errorf("returned after %v, want about 20ms", elapsed)
	}

	// The token was reset: later calls, cancellable or not, run normally.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	c := load(t, m.host, "counter")
	for i := 0; i < 3; i++ {
		res, err := c.CallWithTimeout(ctx2, "inc")
		if err != nil || DecodeI32(res[0]) != int32(i+1) {
			t.Fatalf("inc = %v, %v", res, err)
		}
	}
	ctx3, cancel3 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel3()
	if _, err := m.CallWithTimeout(ctx3, "loop"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("loop after cancel: err = %v, want DeadlineExceeded", err)
	}
}

func TestCancelCause(t *testing.T) {
	m := load(t, newHost(t), "infinite_loop")
	ctx, cancel := context.WithCancelCause(context.Background())
	why := errors.New("operator said stop")
	time.AfterFunc(10*time.Millisecond, func() { cancel(why) })
	_, err := m.CallWithTimeout(ctx, "loop")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, why) {
		t.Fatalf("err = %v, want Canceled and the cause", err)
	}
}

func TestLateCancelDoesNotHitNextCall(t *testing.T) {
	h := newHost(t)
	m := load(t, h, "fib")
	for i := 0; i < 200; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		// Cancel races with the call; whatever happens, the next call is clean.
		go cancel()
		_, err := m.CallWithTimeout(ctx, "fib", 15)
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("racing cancel: err = %v", err)
		}
		if got := callI32(t, m, "fib", 10); got != 55 {
			t.Fatalf("next call = %d", got)
		}
		ctx2, cancel2 := context.WithCancel(context.Background())
		res, err := m.CallWithTimeout(ctx2, "fib", 10)
		cancel2()
		if err != nil || DecodeI32(res[0]) != 55 {
			t.Fatalf("next cancellable call = %v, %v", res, err)
		}
	}
}

// staleDeadline is a context whose deadline has passed before it noticed:
// Err is still nil (as between the deadline and its timer firing).
type staleDeadline struct{ context.Context }

func (staleDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Second), true }

func TestContextAlreadyDone(t *testing.T) {
	h := newHost(t, WithFuelLimit(1_000_000))
	m := load(t, h, "counter")
	why := errors.New("no longer wanted")
	cancelled, cancel := context.WithCancelCause(context.Background())
	cancel(why)
	past, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	stale := staleDeadline{context.Background()}
	for _, c := range []struct {
		name  string
		ctx   context.Context
		want  []error
		cause error
	}{
		{"cancelled", cancelled, []error{ErrInterrupted, context.Canceled}, why},
		{"past deadline", past, []error{ErrTimeout, context.DeadlineExceeded}, nil},
		{"deadline passed unnoticed", stale, []error{ErrTimeout, context.DeadlineExceeded}, nil},
	} {
		_, err := m.CallWithTimeout(c.ctx, "inc")
		checkStopped(t, err, c.want...)
		var e *Error
		if !errors.As(err, &e) || e.Op != `call "inc" on module "counter"` {
			t.Errorf("%s: CallWithTimeout: err = %#v, want an *Error naming the call", c.name, err)
		}
		if c.cause != nil && !errors.Is(err, c.cause) {
			t.Errorf("%s: CallWithTimeout: err = %v, want the cause too", c.name, err)
		}
		_, err = h.LoadModule(c.ctx, "x", fixture(t, "add"))
		checkStopped(t, err, c.want...)
		if !errors.As(err, &e) || e.Op != `load module "x"` {
			t.Errorf("%s: LoadModule: err = %#v, want an *Error naming the load", c.name, err)
		}
		if c.cause != nil && !errors.Is(err, c.cause) {
			t.Errorf("%s: LoadModule: err = %v, want the cause too", c.name, err)
		}
	}
	if got := callI32(t, m, "get"); got != 0 {
		t.Fatalf("get() = %d: a call with a done context ran", got)
	}
	// None of the loads took a slot.
	n := h.openModules()
	if n != 1 {
		t.Errorf("%d modules loaded, want 1", n)
	}
}

func TestContextDeadlineShorterThanExecTimeout(t *testing.T) {
	m := load(t, newHost(t, WithExecTimeout(10*time.Second)), "infinite_loop")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := m.CallWithTimeout(ctx, "loop")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed < 35*time.Millisecond || elapsed > slack {
		t.Errorf("stopped after %v, want about 40ms", elapsed)
	}
}

func TestExecTimeoutShorterThanContextDeadline(t *testing.T) {
	m := load(t, newHost(t, WithExecTimeout(40*time.Millisecond)), "infinite_loop")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := m.CallWithTimeout(ctx, "loop")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed < 35*time.Millisecond || elapsed > slack {
		t.Errorf("stopped after %v, want about 40ms", elapsed)
	}
	if ctx.Err() != nil {
		t.Errorf("the context ended too")
	}
}

func TestNoTimeoutWithoutDeadline(t *testing.T) {
	// No ExecTimeout and no deadline: a long call is not cut short.
	m := load(t, newHost(t), "fib")
	if got := callI32(t, m, "fib", 25); got != 75025 {
		t.Fatalf("fib(25) = %d", got)
	}
}

func TestStartLoop(t *testing.T) {
	h := newHost(t, WithExecTimeout(time.Millisecond)) // does not apply to loads
	wasm := fixture(t, "start_loop")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.LoadModule(ctx, "spin", wasm)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: err = %v, want DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > slack {
		t.Errorf("stopped after %v", elapsed)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel2)
	_, err = h.LoadModule(ctx2, "spin", wasm)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: err = %v, want Canceled", err)
	}

	// The host is still fine.
	if got := callI32(t, load(t, h, "add"), "add", 1, 2); got != 3 {
		t.Fatalf("add = %d", got)
	}
}

func TestLoadIgnoresExecTimeout(t *testing.T) {
	h := newHost(t, WithExecTimeout(time.Nanosecond))
	m := load(t, h, "add")
	if _, err := m.CallWithTimeout(context.Background(), "add", 1, 2); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}
