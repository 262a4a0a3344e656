package wasm

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// noGoroutineLeak fails t if, once its cleanups (registered later) have run,
// more goroutines are left than when it was called.
func noGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(slack)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines left, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// spinThenCallModule exports spin_then_call(n i64) -> i64, which counts n
// down to 0 and then returns bench.f(0): a call that reaches its host
// function only after a while. No fixture has one, so it is assembled here.
func spinThenCallModule() []byte {
	section := func(id byte, body ...byte) []byte {
		return append([]byte{id, byte(len(body))}, body...)
	}
	code := []byte{
		0,          // no locals
		0x02, 0x40, // block
		0x03, 0x40, // loop
		0x20, 0, 0x50, 0x0d, 1, // br_if 1 (i64.eqz (local.get 0))
		0x20, 0, 0x42, 1, 0x7d, 0x21, 0, // local.set 0 (i64.sub (local.get 0) (i64.const 1))
		0x0c, 0, // br 0
		0x0b, 0x0b, // end loop, end block
		0x42, 0, 0x10, 0, // call 0 (i64.const 0)
		0x0b,
	}
	name := "spin_then_call"
	mod := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	mod = append(mod, section(1, 1, 0x60, 1, 0x7e, 1, 0x7e)...)
	mod = append(mod, section(2, 1, 5, 'b', 'e', 'n', 'c', 'h', 1, 'f', 0, 0)...)
	mod = append(mod, section(3, 1, 0)...)
	mod = append(mod, section(7, append(append([]byte{1, byte(len(name))}, name...), 0, 1)...)...)
	mod = append(mod, section(10, append([]byte{1, byte(len(code))}, code...)...)...)
	return mod
}

// spinCount makes spin_then_call take a few hundred ms before its host call.
const spinCount = 1_000_000_000

func TestHostFunctionContextDeadline(t *testing.T) {
	const exec, ctxTimeout = 20 * time.Second, 40 * time.Second
	cases := []struct {
		name          string
		exec, timeout time.Duration
		want          string // whose deadline the host function sees
	}{
		{"neither", 0, 0, "none"},
		{"ExecTimeout only", exec, 0, "exec"},
		{"ctx only", 0, ctxTimeout, "ctx"},
		{"ExecTimeout earlier", exec, ctxTimeout, "exec"},
		{"ctx earlier", ctxTimeout, exec, "ctx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			noGoroutineLeak(t)
			h := newHost(t, WithExecTimeout(tc.exec))
			var entered time.Time
			var deadline time.Time
			var hasDeadline bool
			defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
				entered = time.Now()
				deadline, hasDeadline = ctx.Deadline()
				return nil
			})
			m, err := h.LoadModule(context.Background(), "spin", spinThenCallModule())
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			spin := uint64(0)
			if tc.want == "exec" { // to tell the call's start from the host call's
				spin = spinCount
			}
			start := time.Now()
			if _, err := m.CallWithTimeout(ctx, "spin_then_call", spin); err != nil {
				t.Fatal(err)
			}
			switch tc.want {
			case "none":
				if hasDeadline {
					t.Errorf("deadline %v; want none", deadline)
				}
			case "ctx":
				want, _ := ctx.Deadline()
				if !hasDeadline || !deadline.Equal(want) {
					t.Errorf("deadline %v, %v; want the ctx's, %v", deadline, hasDeadline, want)
				}
			case "exec":
				// Counted from the start of the call, not from the host call.
				gap := entered.Sub(start)
				if gap < 100*time.Millisecond {
					t.Fatalf("the guest reached its host call after %v: too soon to tell", gap)
				}
				off := deadline.Sub(start.Add(tc.exec))
				if !hasDeadline || off < -time.Millisecond || off > gap/2 {
					t.Errorf("deadline start+ExecTimeout%+v (%v); want within [-1ms, %v]", off, hasDeadline, gap/2)
				}
			}
		})
	}
}

func TestHostFunctionContextOfALoad(t *testing.T) {
	noGoroutineLeak(t)
	h := newHost(t, WithExecTimeout(time.Second)) // does not apply to loads
	var deadline time.Time
	defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		deadline, _ = ctx.Deadline()
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := h.LoadModule(ctx, "start", startCallsF(t)); err != nil {
		t.Fatal(err)
	}
	if want, _ := ctx.Deadline(); !deadline.Equal(want) {
		t.Errorf("deadline %v; want the load's, %v", deadline, want)
	}
}

// blockingHost is a host whose bench.f blocks until its ctx ends, reports
// on entered that it is blocking, and returns ctx.Err().
func blockingHost(t *testing.T, opts ...Option) (*Host, chan struct{}, *error) {
	h := newHost(t, opts...)
	entered := make(chan struct{}, 1)
	var cause error
	defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		entered <- struct{}{}
		<-ctx.Done()
		cause = context.Cause(ctx)
		return ctx.Err()
	})
	return h, entered, &cause
}

// checkStopped checks that err has exactly the sentinels in want (among
// ErrTimeout, ErrInterrupted, ErrClosed, ErrHostFunction and the context
// errors).
func checkStopped(t *testing.T, err error, want ...error) {
	t.Helper()
	all := []error{ErrTimeout, ErrInterrupted, ErrClosed, ErrHostFunction, context.DeadlineExceeded, context.Canceled}
	for _, e := range all {
		expected := false
		for _, w := range want {
			expected = expected || w == e
		}
		if errors.Is(err, e) != expected {
			t.Errorf("err = %v: errors.Is(err, %v) = %v, want %v", err, e, !expected, expected)
		}
	}
}

func TestBlockedHostFunctionReturnsWhenTheCallTimesOut(t *testing.T) {
	noGoroutineLeak(t)
	// Generous enough for the guest to reach its host function under qemu.
	const timeout = 300 * time.Millisecond
	for _, viaCtx := range []bool{false, true} {
		var opts []Option
		if !viaCtx {
			opts = append(opts, WithExecTimeout(timeout))
		}
		h, entered, cause := blockingHost(t, opts...)
		m := loadHostCall(t, h) // before the deadline starts: compiling is slow under qemu
		ctx := context.Background()
		if viaCtx {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		start := time.Now()
		_, err := m.CallWithTimeout(ctx, "loop", 1)
		elapsed := time.Since(start)
		checkStopped(t, err, ErrTimeout, context.DeadlineExceeded)
		if elapsed < timeout-10*time.Millisecond || elapsed > timeout+slack {
			t.Errorf("returned after %v; want about %v", elapsed, timeout)
		}
		select {
		case <-entered:
		default:
			t.Fatalf("viaCtx=%v: the call timed out before it reached the host function", viaCtx)
		}
		if *cause != context.DeadlineExceeded {
			t.Errorf("the host function saw cause %v", *cause)
		}
	}
}

func TestBlockedHostFunctionReturnsWhenTheCallerCancels(t *testing.T) {
	noGoroutineLeak(t)
	h, entered, cause := blockingHost(t, WithExecTimeout(time.Minute))
	m := loadHostCall(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-entered; cancel() }()
	_, err := m.CallWithTimeout(ctx, "loop", 1)
	checkStopped(t, err, ErrInterrupted, context.Canceled)
	if *cause != context.Canceled {
		t.Errorf("the host function saw cause %v", *cause)
	}
	// The module is fine, and the next call gets a fresh ctx.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { <-entered; cancel2() }()
	_, err = m.CallWithTimeout(ctx2, "loop", 1)
	checkStopped(t, err, ErrInterrupted, context.Canceled)
}

func TestBlockedHostFunctionReturnsOnClose(t *testing.T) {
	noGoroutineLeak(t)
	closers := map[string]func(*Host, *Module){
		"Module.Close": func(h *Host, m *Module) { m.Close(context.Background()) },
		"Host.Close":   func(h *Host, m *Module) { h.Close() },
	}
	for name, closeIt := range closers {
		t.Run(name, func(t *testing.T) {
			h, entered, cause := blockingHost(t)
			m := loadHostCall(t, h)
			result := make(chan error, 1)
			go func() {
				_, err := m.CallWithTimeout(context.Background(), "call_then_spin")
				result <- err
			}()
			<-entered
			start := time.Now()
			closeIt(h, m)
			if elapsed := time.Since(start); elapsed > slack {
				t.Errorf("%s took %v", name, elapsed)
			}
			select {
			case err := <-result:
				checkStopped(t, err, ErrClosed, ErrInterrupted)
			case <-time.After(slack):
				t.Fatal("the call did not return")
			}
			if *cause != ErrClosed {
				t.Errorf("the host function saw cause %v; want ErrClosed", *cause)
			}
		})
	}
}

func TestBlockedHostFunctionOfALoadReturnsOnHostClose(t *testing.T) {
	noGoroutineLeak(t)
	h, entered, cause := blockingHost(t)
	result := make(chan error, 1)
	go func() {
		_, err := h.LoadModule(context.Background(), "start", startCallsF(t))
		result <- err
	}()
	<-entered
	h.Close()
	select {
	case err := <-result:
		checkStopped(t, err, ErrClosed, ErrInterrupted)
	case <-time.After(slack):
		t.Fatal("the load did not return")
	}
	if *cause != ErrClosed {
		t.Errorf("the host function saw cause %v; want ErrClosed", *cause)
	}
}

func TestHostFunctionFailingForItsOwnReasonAfterTheDeadline(t *testing.T) {
	// Only the ctx's own error means "stopped"; any other is the function's.
	h := newHost(t, WithExecTimeout(50*time.Millisecond))
	defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		<-ctx.Done()
		return errShout
	})
	_, err := loadHostCall(t, h).CallWithTimeout(context.Background(), "loop", 1)
	checkStopped(t, err, ErrHostFunction)
	if !errors.Is(err, errShout) {
		t.Errorf("err = %v; want errShout", err)
	}
}
