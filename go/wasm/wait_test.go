package wasm

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// stuckHost is a host whose bench.f ignores its ctx: it reports on entered
// and blocks until release is closed. A call into it holds its module.
func stuckHost(t *testing.T) (h *Host, entered, release chan struct{}) {
	h = newHost(t)
	entered, release = make(chan struct{}, 1), make(chan struct{})
	defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		entered <- struct{}{}
		<-release
		stack[0] = 42
		return nil
	})
	return h, entered, release
}

// waitForWaiters waits until n callers are queued for m.
func waitForWaiters(t *testing.T, m *Module, n int) {
	t.Helper()
	deadline := time.Now().Add(slack)
	for {
		queued := int(m.lk.waiters.Load())
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers waiting; want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWaitingCallerGivesUpWhenItsContextEnds(t *testing.T) {
	noGoroutineLeak(t)
	h, entered, release := stuckHost(t)
	m := loadHostCall(t, h)
	stuck := make(chan error, 1)
	go func() {
		res, err := m.CallWithTimeout(context.Background(), "loop", 1)
		if err == nil && (len(res) != 1 || res[0] != 42) {
			err = errors.New("wrong result")
		}
		stuck <- err
	}()
	<-entered

	// A deadline: ErrTimeout, as when a deadline stops a call.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := m.CallWithTimeout(ctx, "loop", 1)
	if elapsed := time.Since(start); elapsed < 90*time.Millisecond || elapsed > slack {
		t.Errorf("gave up after %v; want about 100ms", elapsed)
	}
	checkStopped(t, err, ErrTimeout, context.DeadlineExceeded)

	// A cancellation, with its cause.
	why := errors.New("not waiting any longer")
	ctx2, cancel2 := context.WithCancelCause(context.Background())
	result := make(chan error, 1)
	go func() {
		_, err := m.CallWithTimeout(ctx2, "loop", 1)
		result <- err
	}()
	waitForWaiters(t, m, 1)
	cancel2(why)
	select {
	case err := <-result:
		checkStopped(t, err, ErrInterrupted, context.Canceled)
		if !errors.Is(err, why) {
			t.Errorf("err = %v; want the cause too", err)
		}
	case <-time.After(slack):
		t.Fatal("the waiting caller did not give up")
	}

	// The stuck call is unaffected, and the module is fine afterwards.
	select {
	case err := <-stuck:
		t.Fatalf("the stuck call returned early: %v", err)
	default:
	}
	close(release)
	if err := <-stuck; err != nil {
		t.Fatalf("the stuck call: %v", err)
	}
	if _, err := m.CallWithTimeout(context.Background(), "loop", 1); err != nil {
		t.Fatal(err)
	}
	if m.lk.state.Load() != unlocked || m.lk.waiters.Load() != 0 {
		t.Errorf("lock state %d with %d waiters after the calls", m.lk.state.Load(), m.lk.waiters.Load())
	}
}

func TestWaitingCallersReturnWhenTheModuleCloses(t *testing.T) {
	closers := map[string]func(*Host, *Module){
		"Module.Close": func(h *Host, m *Module) { m.Close(context.Background()) },
		"Host.Close":   func(h *Host, m *Module) { h.Close() },
	}
	for name, closeIt := range closers {
		t.Run(name, func(t *testing.T) {
			noGoroutineLeak(t)
			h, entered, release := stuckHost(t)
			m := loadHostCall(t, h)
			stuck := make(chan error, 1)
			go func() {
				_, err := m.CallWithTimeout(context.Background(), "call_then_spin")
				stuck <- err
			}()
			<-entered

			// One waiter of each kind, none with a ctx that can end.
			results := make(chan string, 5)
			go func() {
				_, err := m.CallWithTimeout(context.Background(), "loop", 1)
				results <- "call ErrClosed: " + yes(errors.Is(err, ErrClosed))
			}()
			go func() {
				_, err := m.FuelConsumed()
				results <- "fuel ErrClosed: " + yes(errors.Is(err, ErrClosed))
			}()
			go func() { results <- "size 0: " + yes(m.Memory().Size() == 0) }()
			go func() {
				_, ok := m.Memory().Read(0, 4)
				results <- "read failed: " + yes(!ok)
			}()
			go func() { results <- "write failed: " + yes(!m.Memory().Write(0, []byte{1})) }()
			waitForWaiters(t, m, 5)

			closed := make(chan struct{})
			go func() { closeIt(h, m); close(closed) }()
			for i := 0; i < 5; i++ {
				select {
				case r := <-results:
					if r[len(r)-3:] != "yes" {
						t.Error(r)
					}
				case <-time.After(slack):
					t.Fatal("a waiter did not return on close")
				}
			}
			if name == "Host.Close" { // the host's methods do not wait for it either
				if _, err := h.LoadModule(context.Background(), "add", fixture(t, "add")); !errors.Is(err, ErrClosed) {
					t.Errorf("LoadModule while closing: %v", err)
				}
				noop := func(context.Context, *Caller, []uint64) error { return nil }
				if err := h.DefineFunction("x", "y", nil, nil, noop); !errors.Is(err, ErrClosed) {
					t.Errorf("DefineFunction while closing: %v", err)
				}
			}
			// Close itself waits for the host function, which ignores its ctx.
			select {
			case <-closed:
				t.Fatal("Close returned while the call was in a host function")
			case <-time.After(20 * time.Millisecond):
			}
			close(release)
			select {
			case <-closed:
			case <-time.After(slack):
				t.Fatal("Close did not return after the host function did")
			}
			checkStopped(t, <-stuck, ErrClosed, ErrInterrupted)
		})
	}
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// The lock alone, under contention, with waiters giving up at random and
// holders that sometimes sleep (so that waiters starve and ask for
// hand-offs): it must exclude (the race detector checks the counter),
// never lose a wake-up or a hand-off, and end unlocked.
func TestCallLockUnderContention(t *testing.T) {
	const goroutines, rounds = 8, 1000
	var l callLock
	var counter, gaveUp int
	var gaveUpMu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				var stop chan struct{}
				if rand.IntN(3) == 0 {
					stop = make(chan struct{})
					time.AfterFunc(time.Duration(rand.IntN(2000))*time.Microsecond, func() { close(stop) })
				}
				if !l.tryLock() && !l.lockSlow(stop, nil) {
					gaveUpMu.Lock()
					gaveUp++
					gaveUpMu.Unlock()
					continue
				}
				counter++
				if rand.IntN(20) == 0 {
					time.Sleep(100 * time.Microsecond)
				}
				l.unlock()
			}
		}()
	}
	wg.Wait()
	if counter+gaveUp != goroutines*rounds {
		t.Errorf("%d locked + %d gave up; want %d", counter, gaveUp, goroutines*rounds)
	}
	if l.state.Load() != unlocked || l.waiters.Load() != 0 || l.starving.Load() {
		t.Errorf("state %d, %d waiters, starving %v at the end", l.state.Load(), l.waiters.Load(), l.starving.Load())
	}
	if !l.tryLock() {
		t.Error("the lock cannot be taken at the end")
	}
}

// A goroutine that takes the lock in a loop does not keep a waiter out.
func TestCallLockDoesNotStarveAWaiter(t *testing.T) {
	var l callLock
	stop := make(chan struct{})
	looped := make(chan struct{})
	go func() {
		defer close(looped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			l.lock()
			time.Sleep(50 * time.Microsecond) // holds it most of the time
			l.unlock()
		}
	}()
	for i := 0; i < 20; i++ {
		start := time.Now()
		l.lock()
		if waited := time.Since(start); waited > slack {
			t.Errorf("waited %v for the lock", waited)
		}
		l.unlock()
	}
	close(stop)
	<-looped
}
