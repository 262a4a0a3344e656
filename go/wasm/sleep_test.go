package wasm

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A guest that blocks in WASI (poll_oneoff on a clock, as nanosleep does)
// is stopped by everything that stops a busy one.

const eightSeconds = uint64(8 * time.Second)

func loadSleeper(t *testing.T, h *Host) *Module {
	t.Helper()
	m, err := h.LoadModule(context.Background(), "sleep", wasiFixture(t, "sleep"), WithModuleWASI(WASIConfig{}))
	if err != nil {
		t.Fatalf("LoadModule(sleep): %v", err)
	}
	return m
}

func TestSleepingGuestStopsAtTheDeadline(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"ExecTimeout", []Option{WithExecTimeout(300 * time.Millisecond)}, func() (context.Context, context.CancelFunc) {
			return context.Background(), func() {}
		}},
		{"ctx deadline", nil, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadSleeper(t, newHost(t, tc.opts...))
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			_, err := m.CallWithTimeout(ctx, "sleep", eightSeconds)
			took := time.Since(start)
			if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v; want ErrTimeout wrapping DeadlineExceeded", err)
			}
			if took < 300*time.Millisecond || took > 300*time.Millisecond+slack {
				t.Fatalf("an 8 s sleep under a 300 ms deadline returned after %v", took)
			}
			// The module stays usable, and a shorter sleep keeps its length.
			start = time.Now()
			res, err := m.CallWithTimeout(context.Background(), "sleep", uint64(100*time.Millisecond))
			if err != nil || res[0] != 0 {
				t.Fatalf("100 ms sleep = %v, %v; want errno 0", res, err)
			}
			if took := time.Since(start); took < 100*time.Millisecond {
				t.Fatalf("a 100 ms sleep returned after %v", took)
			}
		})
	}
}

func TestSleepingGuestStopsOnCancel(t *testing.T) {
	m := loadSleeper(t, newHost(t))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := m.CallWithTimeout(ctx, "sleep", eightSeconds)
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want ErrInterrupted wrapping Canceled", err)
	}
	if took := time.Since(start); took > 300*time.Millisecond+slack {
		t.Fatalf("cancelled sleep returned after %v", took)
	}
}

func TestSleepingGuestStopsOnClose(t *testing.T) {
	for _, which := range []string{"Module.Close", "Host.Close"} {
		t.Run(which, func(t *testing.T) {
			h := newHost(t)
			m := loadSleeper(t, h)
			done := make(chan error, 1)
			go func() {
				_, err := m.CallWithTimeout(context.Background(), "sleep", eightSeconds)
				done <- err
			}()
			time.Sleep(300 * time.Millisecond) // let it fall asleep
			start := time.Now()
			var closeErr error
			if which == "Module.Close" {
				closeErr = m.Close(context.Background())
			} else {
				closeErr = h.Close()
			}
			if closeErr != nil {
				t.Fatalf("%s: %v", which, closeErr)
			}
			if took := time.Since(start); took > slack {
				t.Fatalf("%s took %v while the guest slept", which, took)
			}
			select {
			case err := <-done:
				if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrInterrupted) {
					t.Fatalf("err = %v; want ErrClosed and ErrInterrupted", err)
				}
			case <-time.After(slack):
				t.Fatal("the sleeping call did not return after close")
			}
		})
	}
}
