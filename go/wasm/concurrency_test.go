package wasm

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestConcurrentCallsSharedModule(t *testing.T) {
	h := newHost(t, WithExecTimeout(10*time.Second))
	m := load(t, h, "counter")
	const goroutines, calls = 64, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				ctx := context.Background()
				var cancel context.CancelFunc = func() {}
				if (g+i)%2 == 1 { // mix the fast path and the cancellable one
					ctx, cancel = context.WithCancel(ctx)
				}
				_, err := m.CallWithTimeout(ctx, "inc")
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := callI32(t, m, "get"); got != goroutines*calls {
		t.Fatalf("get() = %d, want %d", got, goroutines*calls)
	}
}

func TestConcurrentCallsSeparateModules(t *testing.T) {
	h := newHost(t)
	const goroutines = 64
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			m, err := h.LoadModule(context.Background(), "counter", fixture(t, "counter"))
			if err != nil {
				errs <- err
				return
			}
			defer m.Close(context.Background())
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for i := 1; i <= 20; i++ {
				res, err := m.CallWithTimeout(ctx, "inc")
				if err != nil {
					errs <- err
					return
				}
				if got := DecodeI32(res[0]); got != int32(i) {
					errs <- errors.New("modules share state")
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestCloseDuringCall(t *testing.T) {
	h := newHost(t)
	for _, cancellable := range []bool{false, true} {
		m := load(t, h, "infinite_loop")
		ctx := context.Background()
		if cancellable {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
		}
		result := make(chan error, 1)
		go func() {
			_, err := m.CallWithTimeout(ctx, "loop")
			result <- err
		}()
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		if err := m.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-result:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("err = %v, want ErrClosed", err)
			}
		case <-time.After(slack):
			t.Fatal("the call did not return after Close")
		}
		if elapsed := time.Since(start); elapsed > slack {
			t.Errorf("Close took %v", elapsed)
		}
	}
}

// Every Close returns with the module freed, also the ones that lost the
// race to close it: they wait for the one that won.
func TestConcurrentClosesAllWaitForTheFree(t *testing.T) {
	h := newHost(t)
	for range 20 {
		m := load(t, h, "infinite_loop")
		running := make(chan struct{})
		go func() {
			close(running)
			m.CallWithTimeout(context.Background(), "loop") // stopped by the Closes
		}()
		<-running
		time.Sleep(time.Millisecond) // most rounds close during the call
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.Close(context.Background())
				if n := h.Stats().LiveModules; n != 0 {
					t.Errorf("LiveModules = %d after Close returned, want 0", n)
				}
			}()
		}
		wg.Wait()
	}
}

func TestHostCloseWithLiveModules(t *testing.T) {
	h, err := NewHost()
	if err != nil {
		t.Fatal(err)
	}
	idle := load(t, h, "add")
	busy := load(t, h, "infinite_loop")
	result := make(chan error, 2)
	go func() {
		_, err := busy.CallWithTimeout(context.Background(), "loop")
		result <- err
	}()
	go func() { // a load that would never finish on its own
		_, err := h.LoadModule(context.Background(), "spin", fixture(t, "start_loop"))
		result <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case err := <-result:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("in flight: err = %v, want ErrClosed", err)
			}
		case <-time.After(slack):
			t.Fatal("a call or load did not return after Host.Close")
		}
	}
	checkClosed(t, h, idle)
	checkClosed(t, h, busy)
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestUseAfterClose(t *testing.T) {
	h := newHost(t)
	m := load(t, h, "add")
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := m.CallWithTimeout(ctx, "add", 1, 2); !errors.Is(err, ErrClosed) {
		t.Errorf("cancellable call: err = %v, want ErrClosed", err)
	}
	if m.Name() != "add" || len(m.ExportedFunctions()) != 1 {
		t.Errorf("metadata after Close: %q %v", m.Name(), m.ExportedFunctions())
	}
	h.Close()
	checkClosed(t, h, m)
}

func checkClosed(t *testing.T, h *Host, m *Module) {
	t.Helper()
	if _, err := m.CallWithTimeout(context.Background(), "add", 1, 2); !errors.Is(err, ErrClosed) {
		t.Errorf("call: err = %v, want ErrClosed", err)
	}
	if _, err := m.FuelConsumed(); !errors.Is(err, ErrClosed) {
		t.Errorf("FuelConsumed: err = %v, want ErrClosed", err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Errorf("Close of a closed module: %v", err)
	}
	if _, err := h.LoadModule(context.Background(), "add", fixture(t, "add")); !errors.Is(err, ErrClosed) {
		t.Errorf("LoadModule: err = %v, want ErrClosed", err)
	}
}

func TestConcurrentCloseAndCalls(t *testing.T) {
	// Calls, cancellations and closes racing each other must neither crash
	// nor deadlock; every call either succeeds or reports a known error.
	for round := 0; round < 20; round++ {
		h, err := NewHost()
		if err != nil {
			t.Fatal(err)
		}
		m := load(t, h, "fib")
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					ctx, cancel := context.WithCancel(context.Background())
					if g%2 == 0 {
						go cancel()
					}
					_, err := m.CallWithTimeout(ctx, "fib", 12)
					cancel()
					if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled) {
						t.Errorf("err = %v", err)
					}
				}
			}(g)
		}
		time.Sleep(time.Millisecond)
		if round%2 == 0 {
			m.Close(context.Background())
		}
		h.Close()
		wg.Wait()
	}
}
