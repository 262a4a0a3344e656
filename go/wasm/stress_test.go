package wasm

import (
	"context"
	"errors"
	"math/rand"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stressSeconds is how long TestStressChaos runs: SBX_GO_STRESS_SECONDS, 2 by
// default so that `go test` (and -race) stays quick; `make stress-go` sets more.
func stressSeconds(t *testing.T) time.Duration {
	s := os.Getenv("SBX_GO_STRESS_SECONDS")
	if s == "" {
		return 2 * time.Second
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("SBX_GO_STRESS_SECONDS=%q: %v", s, err)
	}
	return time.Duration(n) * time.Second
}

// The Go twin of tests/stress.rs: goroutines load, call, cancel, close
// modules and close hosts at random, all racing. Every error must wrap one of
// the sentinels the operation documents, and no call may outlive its context
// deadline by more than the budget.
func TestStressChaos(t *testing.T) {
	const budget = 2 * time.Second // shared, loaded CPUs; -race slows calls further
	wasms := map[string][]byte{
		"add":   fixture(t, "add"),
		"loop":  fixture(t, "infinite_loop"),
		"trap":  fixture(t, "trap_unreachable"),
		"grow":  fixture(t, "memory_bomb"),
		"sleep": fixture(t, "wasi/sleep"),
	}
	names := []string{"add", "loop", "trap", "grow", "sleep"}
	newStressHost := func() *Host {
		h, err := NewHost(WithMaxModules(8), WithMemoryLimit(4<<20), WithWASI(WASIConfig{}))
		if err != nil {
			t.Fatalf("NewHost: %v", err)
		}
		return h
	}
	var (
		hostMu sync.Mutex
		hosts  = []*Host{newStressHost(), newStressHost()}
		modMu  sync.Mutex
		mods   = make([]*Module, 16)
		kinds  = make([]string, 16)
		ops    atomic.Int64
		worst  atomic.Int64
		loaded atomic.Int64
		called atomic.Int64
	)
	defer func() {
		hostMu.Lock()
		for _, h := range hosts {
			h.Close()
		}
		hostMu.Unlock()
	}()
	stopped := []error{ErrClosed, ErrInterrupted, ErrTimeout}
	allowed := func(err error, extra ...error) bool {
		for _, s := range append(stopped, extra...) {
			if errors.Is(err, s) {
				return true
			}
		}
		return false
	}
	late := func(began time.Time, timeout time.Duration, what string) {
		over := time.Since(began) - timeout
		for {
			w := worst.Load()
			if int64(over) <= w || worst.CompareAndSwap(w, int64(over)) {
				break
			}
		}
		if over > budget {
			t.Errorf("%s with a %v timeout returned %v late", what, timeout, over)
		}
	}
	end := time.Now().Add(stressSeconds(t))
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for time.Now().Before(end) {
				ops.Add(1)
				timeout := []time.Duration{time.Microsecond, time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond}[rng.Intn(4)]
				switch op := rng.Intn(100); {
				case op < 25: // load
					hostMu.Lock()
					h := hosts[rng.Intn(len(hosts))]
					hostMu.Unlock()
					kind := names[rng.Intn(len(names))]
					ctx, cancel := context.WithTimeout(context.Background(), 10*timeout+time.Second)
					m, err := h.LoadModule(ctx, kind, wasms[kind])
					cancel()
					if err != nil {
						if !allowed(err, ErrInstanceLimit) {
							t.Errorf("load %s: %v", kind, err)
						}
						continue
					}
					loaded.Add(1)
					i := rng.Intn(len(mods))
					modMu.Lock()
					old := mods[i]
					mods[i], kinds[i] = m, kind
					modMu.Unlock()
					if old != nil {
						old.Close(context.Background())
					}
				case op < 80: // call
					i := rng.Intn(len(mods))
					modMu.Lock()
					m, kind := mods[i], kinds[i]
					modMu.Unlock()
					if m == nil {
						continue
					}
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					if rng.Intn(4) == 0 {
						// A cancel racing the call, from another goroutine.
						go func(d time.Duration) { time.Sleep(d); cancel() }(timeout / 2)
					}
					began := time.Now()
					var err error
					switch kind {
					case "add":
						_, err = m.CallWithTimeout(ctx, "add", 1, 2)
					case "loop":
						_, err = m.CallWithTimeout(ctx, "loop")
						if err == nil {
							t.Errorf("loop returned")
						}
					case "trap":
						_, err = m.CallWithTimeout(ctx, "run")
						if err == nil {
							t.Errorf("trap returned")
						} else if !allowed(err, ErrTrap) {
							t.Errorf("trap: %v", err)
						}
						err = nil
					case "grow":
						_, err = m.CallWithTimeout(ctx, "grow", uint64(rng.Intn(100)))
					case "sleep":
						_, err = m.CallWithTimeout(ctx, "sleep", uint64(rng.Int63n(int64(200*time.Millisecond))))
					}
					late(began, timeout, kind)
					cancel()
					if err == nil {
						called.Add(1)
					} else if !allowed(err) {
						t.Errorf("call %s: %v", kind, err)
					}
				case op < 92: // close a module while others may call it
					i := rng.Intn(len(mods))
					modMu.Lock()
					m := mods[i]
					if rng.Intn(2) == 0 {
						mods[i] = nil
					}
					modMu.Unlock()
					if m != nil {
						if err := m.Close(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
							t.Errorf("close module: %v", err)
						}
					}
				case op < 93: // close a host while its modules are called
					hostMu.Lock()
					i := rng.Intn(len(hosts))
					old := hosts[i]
					hosts[i] = newStressHost()
					hostMu.Unlock()
					if err := old.Close(); err != nil {
						t.Errorf("close host: %v", err)
					}
				default: // read a module's memory while calls run
					i := rng.Intn(len(mods))
					modMu.Lock()
					m := mods[i]
					modMu.Unlock()
					if m != nil {
						if mem := m.Memory(); mem != nil {
							mem.Size()
						}
					}
				}
			}
		}(int64(g))
	}
	wg.Wait()
	t.Logf("%d ops, %d loads and %d calls succeeded; worst lateness past a deadline %v",
		ops.Load(), loaded.Load(), called.Load(), time.Duration(worst.Load()))
	if loaded.Load() == 0 || called.Load() == 0 {
		t.Errorf("nothing loaded or returned: the run proved nothing")
	}
	modMu.Lock()
	for _, m := range mods {
		if m != nil {
			m.Close(context.Background())
		}
	}
	modMu.Unlock()
}
