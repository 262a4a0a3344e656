package wasm

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// compile compiles a fixture, failing the test on error; closed at cleanup.
func compile(t testing.TB, h *Host, name string) *CompiledModule {
	t.Helper()
	c, err := h.CompileModule(context.Background(), fixture(t, name))
	if err != nil {
		t.Fatalf("CompileModule(%s): %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCompileOnceInstantiateMany(t *testing.T) {
	h := newHost(t)
	c := compile(t, h, "add")
	funcs := c.ExportedFunctions()
	if len(funcs) != 1 || funcs[0].String() != "add(i32, i32) -> i32" {
		t.Fatalf("ExportedFunctions = %v, want [add(i32, i32) -> i32]", funcs)
	}
	funcs[0].Params[0] = ValueTypeF64 // a copy: the next caller sees no change
	if c.ExportedFunctions()[0].Params[0] != ValueTypeI32 {
		t.Fatal("ExportedFunctions returned the compiled module's own slice")
	}
	if s := h.Stats(); s.CompiledModules != 1 {
		t.Fatalf("CompiledModules = %d, want 1", s.CompiledModules)
	}
	var mods []*Module
	for i := range 3 {
		m, err := c.Instantiate(context.Background(), "add")
		if err != nil {
			t.Fatal(err)
		}
		if got := callI32(t, m, "add", uint64(i), 10); got != int32(i+10) {
			t.Fatalf("instance %d: add = %d", i, got)
		}
		if m.ExportedFunctions()[0].String() != "add(i32, i32) -> i32" {
			t.Fatalf("instance ExportedFunctions = %v", m.ExportedFunctions())
		}
		mods = append(mods, m)
	}
	if s := h.Stats(); s.LiveModules != 3 {
		t.Fatalf("LiveModules = %d, want 3", s.LiveModules)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if s := h.Stats(); s.CompiledModules != 0 {
		t.Fatalf("CompiledModules after Close = %d, want 0", s.CompiledModules)
	}
	for _, m := range mods { // instances outlive their compiled module
		if got := callI32(t, m, "add", 2, 3); got != 5 {
			t.Fatalf("add after the compiled module closed = %d", got)
		}
	}
	if _, err := c.Instantiate(context.Background(), "late"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Instantiate after Close: %v, want ErrClosed", err)
	}
	if len(c.ExportedFunctions()) != 1 {
		t.Fatal("ExportedFunctions after Close lost its list")
	}
}

func TestCompileAndInstantiateErrors(t *testing.T) {
	h := newHost(t)
	if _, err := h.CompileModule(context.Background(), []byte("not wasm")); !errors.Is(err, ErrCompile) {
		t.Fatalf("CompileModule(garbage): %v, want ErrCompile", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.CompileModule(ctx, fixture(t, "add"))
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("CompileModule(cancelled): %v, want ErrInterrupted and Canceled", err)
	}
	add := compile(t, h, "add")
	if _, err := add.Instantiate(context.Background(), " "); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("Instantiate(blank name): %v, want ErrInvalidName", err)
	}
	unresolved := compile(t, h, "unresolved_import")
	if _, err := unresolved.Instantiate(context.Background(), "u"); !errors.Is(err, ErrLink) {
		t.Fatalf("Instantiate(unresolved import): %v, want ErrLink", err)
	}
	// The start function runs under ctx, as in LoadModule.
	loop := compile(t, h, "start_loop")
	tctx, tcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer tcancel()
	_, err = loop.Instantiate(tctx, "loop")
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Instantiate(start_loop) under a deadline: %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if s := h.Stats(); s.LiveModules != 0 {
		t.Fatalf("LiveModules after failed instantiations = %d, want 0", s.LiveModules)
	}
}

func TestHostCloseClosesCompiledModules(t *testing.T) {
	h, err := NewHost()
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.CompileModule(context.Background(), fixture(t, "add"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Instantiate(context.Background(), "add")
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if _, err := c.Instantiate(context.Background(), "add"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Instantiate after Host.Close: %v, want ErrClosed", err)
	}
	if _, err := c.NewPool(2); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewPool after Host.Close: %v, want ErrClosed", err)
	}
	if _, err := m.CallWithTimeout(context.Background(), "add", 1, 2); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Host.Close: %v, want ErrClosed", err)
	}
	if _, err := h.CompileModule(context.Background(), fixture(t, "add")); !errors.Is(err, ErrClosed) {
		t.Fatalf("CompileModule after Host.Close: %v, want ErrClosed", err)
	}
	if s := h.Stats(); s.CompiledModules != 0 || s.LiveModules != 0 {
		t.Fatalf("Stats after Host.Close = %+v, want no compiled or live modules", s)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// Close racing Instantiate: each Instantiate either works (and its module
// does) or fails with ErrClosed.
func TestCompiledCloseRacesInstantiate(t *testing.T) {
	h := newHost(t)
	for round := range 20 {
		c, err := h.CompileModule(context.Background(), fixture(t, "add"))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					m, err := c.Instantiate(context.Background(), "add")
					if err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("round %d goroutine %d: %v, want success or ErrClosed", round, g, err)
						}
						return
					}
					if res, err := m.CallWithTimeout(context.Background(), "add", 1, 2); err != nil || DecodeI32(res[0]) != 3 {
						t.Errorf("add = %v, %v", res, err)
					}
					m.Close(context.Background())
				}
			}()
		}
		if round%2 == 1 {
			runtime.Gosched()
		}
		c.Close()
		wg.Wait()
	}
	if s := h.Stats(); s.CompiledModules != 0 || s.LiveModules != 0 {
		t.Fatalf("Stats = %+v, want no compiled or live modules", s)
	}
}

// A CompiledModule dropped without Close is freed by the garbage collector.
func TestCompiledModuleCleanupBackstop(t *testing.T) {
	h := newHost(t)
	func() {
		if _, err := h.CompileModule(context.Background(), fixture(t, "add")); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for h.Stats().CompiledModules != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the dropped compiled module was not freed")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// ctx bounds CompileModule as it bounds LoadModule, and Host.Close stops a
// compile in flight.
func TestCompileModuleStopsOnCtxAndHostClose(t *testing.T) {
	h := newHost(t, WithMaxAbandonedCompiles(4))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.CompileModule(ctx, nestedLoops(10000))
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CompileModule under a deadline: %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 300*time.Millisecond+slack {
		t.Errorf("returned after %v", elapsed)
	}

	cctx, ccancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, ccancel)
	_, err = h.CompileModule(cctx, nestedLoops(10001))
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("CompileModule cancelled: %v, want ErrInterrupted and Canceled", err)
	}

	done := make(chan error, 1)
	go func() { _, err := h.CompileModule(context.Background(), nestedLoops(10002)); done <- err }()
	time.Sleep(100 * time.Millisecond)
	start = time.Now()
	h.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("CompileModule during Host.Close: %v, want ErrClosed", err)
		}
	case <-time.After(slack):
		t.Fatal("Host.Close did not stop the compile in flight")
	}
	if elapsed := time.Since(start); elapsed > slack {
		t.Errorf("Host.Close took %v", elapsed)
	}
}

// Instantiate + Close allocates one Go object, the Module, and it fits the
// 384-byte size class: host-function state lives apart, made by the first
// host function, because a 512-byte Module cost 20-50 ns more per pair.
func TestInstantiateAllocatesOneSmallModule(t *testing.T) {
	if size := unsafe.Sizeof(Module{}); size > 384 {
		t.Errorf("Module is %d bytes; keep it within 384 (move what most modules never use out)", size)
	}
	if raceEnabled {
		return // the race detector's instrumentation allocates
	}
	h := newHost(t)
	c := compile(t, h, "add")
	ctx := context.Background()
	n := testing.AllocsPerRun(100, func() {
		m, err := c.Instantiate(ctx, "add")
		if err != nil {
			t.Fatal(err)
		}
		m.Close(ctx)
	})
	if n != 1 {
		t.Errorf("Instantiate + Close allocates %v times, want 1 (the Module)", n)
	}
}
