package wasm

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hostCallWasm is this module, built with wat2wasm:
//
//	(module
//	  (import "bench" "f" (func $f (param i64) (result i64)))
//	  (memory (export "memory") 1)
//	  (func (export "loop") (param $n i32) (result i64)   ;; acc = f(acc), n times
//	    (local $acc i64)
//	    (block $done
//	      (loop $more
//	        (br_if $done (i32.eqz (local.get $n)))
//	        (local.set $acc (call $f (local.get $acc)))
//	        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
//	        (br $more)))
//	    (local.get $acc))
//	  (func (export "call_then_spin")                     ;; f(0), then loop forever
//	    (drop (call $f (i64.const 0)))
//	    (loop $forever (br $forever))))
const hostCallWasm = "0061736d01000000010e0360017e017e60017f017e600000020b010562656e63680166000003030201020503010001" +
	"072203066d656d6f72790200046c6f6f7000010e63616c6c5f7468656e5f7370696e00020a2f022001017e02400340200045" +
	"0d01200110002101200041016b21000c000b0b20010b0c00420010001a03400c000b0b"

func hostCallModule(t testing.TB) []byte {
	b, err := hex.DecodeString(hostCallWasm)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var i64 = []ValueType{ValueTypeI64}

// defineF defines bench.f(i64) -> i64 on h.
func defineF(t testing.TB, h *Host, fn HostFunction) {
	t.Helper()
	if err := h.DefineFunction("bench", "f", i64, i64, fn); err != nil {
		t.Fatal(err)
	}
}

func loadHostCall(t testing.TB, h *Host) *Module {
	t.Helper()
	m, err := h.LoadModule(context.Background(), "hostcall", hostCallModule(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHostFunctionRoundTrip(t *testing.T) {
	h := newHost(t)
	var calls atomic.Int64
	defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		calls.Add(1)
		stack[0] = stack[0] + 3
		return nil
	})
	m := loadHostCall(t, h)
	res, err := m.CallWithTimeout(context.Background(), "loop", 10)
	if err != nil {
		t.Fatal(err)
	}
	if res[0] != 30 || calls.Load() != 10 {
		t.Errorf("loop(10) = %d after %d calls; want 30 after 10", res[0], calls.Load())
	}
}

// pluginHost defines host.shout as the README example does, recording what
// it shouted; "fail" makes it return errShout, "panic" makes it panic.
var errShout = errors.New("refusing to shout")

func pluginHost(t *testing.T, shouted *[]string) *Host {
	h := newHost(t)
	err := h.DefineFunction("host", "shout", []ValueType{ValueTypeI32, ValueTypeI32}, []ValueType{ValueTypeI32},
		func(ctx context.Context, c *Caller, stack []uint64) error {
			ptr, n := DecodeU32(stack[0]), DecodeU32(stack[1])
			b, ok := c.Memory().Read(ptr, n)
			if !ok {
				return fmt.Errorf("%d bytes at %#x are out of range", n, ptr)
			}
			switch string(b) {
			case "fail":
				return fmt.Errorf("shout %q: %w", b, errShout)
			case "panic":
				panic("shout panicked on purpose")
			}
			*shouted = append(*shouted, strings.ToUpper(string(b)))
			stack[0] = EncodeI32(41)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// greet writes input into the plugin's buffer and calls greet.
func greet(t *testing.T, m *Module, input string) (int32, error) {
	t.Helper()
	res, err := m.CallWithTimeout(context.Background(), "input_buffer")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Memory().Write(DecodeU32(res[0]), []byte(input)) {
		t.Fatal("input does not fit")
	}
	res, err = m.CallWithTimeout(context.Background(), "greet", EncodeU32(uint32(len(input))))
	if err != nil {
		return 0, err
	}
	return DecodeI32(res[0]), nil
}

func TestHostFunctionPlugin(t *testing.T) {
	var shouted []string
	h := pluginHost(t, &shouted)
	var stdout bytes.Buffer
	m := loadWASI(t, h, "plugin", WithModuleWASI(WASIConfig{Stdout: &stdout}))
	got, err := greet(t, m, "world")
	if err != nil || got != 42 {
		t.Fatalf("greet = %d, %v; want 42", got, err)
	}
	if stdout.String() != "hello, world!\n" || len(shouted) != 1 || shouted[0] != "WORLD" {
		t.Errorf("stdout %q, shouted %q", stdout.String(), shouted)
	}
}

func TestHostFunctionError(t *testing.T) {
	var shouted []string
	h := pluginHost(t, &shouted)
	m := loadWASI(t, h, "plugin", WithModuleWASI(WASIConfig{}))
	_, err := greet(t, m, "fail")
	if !errors.Is(err, errShout) || !errors.Is(err, ErrHostFunction) {
		t.Fatalf("err = %v; want errShout and ErrHostFunction", err)
	}
	var hfe *HostFunctionError
	if !errors.As(err, &hfe) || hfe.Func != "host.shout" || hfe.Panic != nil {
		t.Fatalf("err = %#v; want a *HostFunctionError for host.shout", err)
	}
	want := `wasm: call "greet" on module "plugin": host function host.shout: shout "fail": refusing to shout`
	if err.Error() != want {
		t.Errorf("err = %q; want %q", err, want)
	}
	// The module stays usable, and the error does not stick.
	if got, err := greet(t, m, "ok"); err != nil || got != 42 {
		t.Errorf("greet after the error = %d, %v", got, err)
	}
}

func TestHostFunctionPanic(t *testing.T) {
	var shouted []string
	h := pluginHost(t, &shouted)
	m := loadWASI(t, h, "plugin", WithModuleWASI(WASIConfig{}))
	_, err := greet(t, m, "panic")
	var hfe *HostFunctionError
	if !errors.As(err, &hfe) || !errors.Is(err, ErrHostFunction) {
		t.Fatalf("err = %v; want a *HostFunctionError", err)
	}
	if hfe.Panic != "shout panicked on purpose" || hfe.Err != nil || !strings.Contains(hfe.Stack, "pluginHost") {
		t.Errorf("Panic %v, Err %v, Stack:\n%s", hfe.Panic, hfe.Err, hfe.Stack)
	}
	if !strings.Contains(err.Error(), "host function host.shout panicked: shout panicked on purpose") {
		t.Errorf("err = %q", err)
	}
	if got, err := greet(t, m, "again"); err != nil || got != 42 {
		t.Errorf("greet after the panic = %d, %v", got, err)
	}

	// A panic with an error value is found by errors.Is.
	h2 := newHost(t)
	defineF(t, h2, func(context.Context, *Caller, []uint64) error { panic(errShout) })
	_, err = loadHostCall(t, h2).CallWithTimeout(context.Background(), "loop", 1)
	if !errors.Is(err, errShout) {
		t.Errorf("panic(errShout): %v", err)
	}
}

func TestHostFunctionSeesTheCallsContext(t *testing.T) {
	type key struct{}
	h := newHost(t)
	var seen atomic.Value
	defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		seen.Store(ctx.Value(key{}))
		if c.Module() == nil || c.Module().Name() != "hostcall" {
			return errors.New("wrong caller module")
		}
		return nil
	})
	m := loadHostCall(t, h)
	ctx := context.WithValue(context.Background(), key{}, "the call's")
	if _, err := m.CallWithTimeout(ctx, "loop", 1); err != nil {
		t.Fatal(err)
	}
	if seen.Load() != "the call's" {
		t.Errorf("ctx value %v", seen.Load())
	}
}

func TestHostFunctionCancelAfterHostCall(t *testing.T) {
	h := newHost(t)
	var cancel context.CancelFunc
	defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		cancel() // the guest goes on spinning after this returns
		return nil
	})
	m := loadHostCall(t, h)
	var ctx context.Context
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	_, err := m.CallWithTimeout(ctx, "call_then_spin")
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrHostFunction) {
		t.Fatalf("err = %v; want Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopped after %v", d)
	}

	// A deadline that passes after the host call also stops the guest.
	h2 := newHost(t, WithExecTimeout(50*time.Millisecond))
	defineF(t, h2, func(ctx context.Context, c *Caller, stack []uint64) error { return nil })
	if _, err := loadHostCall(t, h2).CallWithTimeout(context.Background(), "call_then_spin"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want DeadlineExceeded", err)
	}

	// A host function that blocks can honour ctx itself: returning its
	// error, it fails the call as the deadline would have.
	h3 := newHost(t)
	defineF(t, h3, func(ctx context.Context, c *Caller, stack []uint64) error {
		<-ctx.Done()
		return ctx.Err()
	})
	m3 := loadHostCall(t, h3) // before the deadline starts: compiling is slow under qemu
	ctx, stop := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer stop()
	_, err = m3.CallWithTimeout(ctx, "loop", 1)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) || errors.Is(err, ErrHostFunction) {
		t.Fatalf("err = %v; want a timeout, not ErrHostFunction", err)
	}
}

func TestHostFunctionReentry(t *testing.T) {
	h := newHost(t)
	var results []string
	defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		m := c.Module()
		_, err := m.CallWithTimeout(ctx, "loop", 0)
		results = append(results, fmt.Sprint("call: ", errors.Is(err, ErrInvalidArgument)))
		_, err = m.FuelConsumed()
		results = append(results, fmt.Sprint("fuel: ", errors.Is(err, ErrInvalidArgument)))
		results = append(results, fmt.Sprint("close host: ", errors.Is(h.Close(), ErrInvalidArgument)))
		// Memory goes through the caller, from the Caller or the Module.
		ok1 := c.Memory().WriteUint64Le(8, 0x1122334455667788)
		v, ok2 := m.Memory().ReadUint64Le(8)
		results = append(results, fmt.Sprint("memory: ", ok1, ok2, v == 0x1122334455667788, m.Memory().Size()))
		return nil
	})
	m := loadHostCall(t, h)
	if _, err := m.CallWithTimeout(context.Background(), "loop", 1); err != nil {
		t.Fatal(err)
	}
	want := "call: true|fuel: true|close host: true|memory: true true true 65536"
	if got := strings.Join(results, "|"); got != want {
		t.Errorf("got %s; want %s", got, want)
	}
	if v, ok := m.Memory().ReadUint64Le(8); !ok || v != 0x1122334455667788 {
		t.Errorf("after the call: %#x, %v", v, ok)
	}
}

func TestHostFunctionClosesItsModule(t *testing.T) {
	h := newHost(t)
	defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		return c.Module().Close(ctx)
	})
	m := loadHostCall(t, h)
	_, err := m.CallWithTimeout(context.Background(), "call_then_spin")
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v; want ErrClosed", err)
	}
	if _, err := m.CallWithTimeout(context.Background(), "loop", 1); !errors.Is(err, ErrClosed) {
		t.Errorf("after close: %v", err)
	}
	if m.Memory().Size() != 0 {
		t.Error("memory of a closed module")
	}
	n := h.openModules()
	if n != 0 {
		t.Errorf("the host still holds %d modules", n)
	}
}

func TestCallerIsValidOnlyDuringItsCall(t *testing.T) {
	h := newHost(t)
	var kept *Caller
	var fromOther bool
	defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		kept = c
		done := make(chan bool)
		go func() { _, ok := c.Memory().Read(0, 4); done <- ok }()
		fromOther = <-done
		return nil
	})
	m := loadHostCall(t, h)
	if _, err := m.CallWithTimeout(context.Background(), "loop", 1); err != nil {
		t.Fatal(err)
	}
	if fromOther {
		t.Error("the caller's memory was read from another goroutine")
	}
	if _, ok := kept.Memory().Read(0, 4); ok || kept.Memory().Size() != 0 || kept.Memory().Write(0, []byte{1}) {
		t.Error("the caller's memory was used after its call")
	}
}

func TestDefineFunctionValidation(t *testing.T) {
	h := newHost(t)
	nop := func(context.Context, *Caller, []uint64) error { return nil }
	for _, tc := range []struct {
		module, name string
		params       []ValueType
		fn           HostFunction
	}{
		{"env", "f", nil, nil},
		{"", "f", nil, nop},
		{"env", " ", nil, nop},
		{"env", "f", []ValueType{ValueTypeV128}, nop},
		{"env", "\xff", nil, nop},
	} {
		if err := h.DefineFunction(tc.module, tc.name, tc.params, nil, tc.fn); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("DefineFunction(%q, %q, %v): %v; want ErrInvalidArgument", tc.module, tc.name, tc.params, err)
		}
	}
	if err := h.DefineFunction("env", "g", nil, nil, nop); err != nil {
		t.Fatal(err)
	}
	if err := h.DefineFunction("env", "g", nil, nil, nop); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("defining env.g twice: %v", err)
	}
	h.Close()
	if err := h.DefineFunction("env", "h", nil, nil, nop); !errors.Is(err, ErrClosed) {
		t.Errorf("on a closed host: %v", err)
	}
}

func TestHostFunctionImportMissing(t *testing.T) {
	h := newHost(t)
	_, err := h.LoadModule(context.Background(), "hostcall", hostCallModule(t))
	if !errors.Is(err, ErrLink) || !strings.Contains(err.Error(), "bench") {
		t.Fatalf("err = %v; want ErrLink naming bench.f", err)
	}
	// Wrong signature.
	if err := h.DefineFunction("bench", "f", []ValueType{ValueTypeI32}, i64, func(context.Context, *Caller, []uint64) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := h.LoadModule(context.Background(), "hostcall", hostCallModule(t)); !errors.Is(err, ErrLink) {
		t.Fatalf("err = %v; want ErrLink for the wrong signature", err)
	}
}

func TestHostFunctionConcurrentModules(t *testing.T) {
	h := newHost(t)
	defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		if !c.Memory().WriteUint64Le(0, stack[0]) {
			return errors.New("write failed")
		}
		v, _ := c.Memory().ReadUint64Le(0)
		stack[0] = v + 1
		return nil
	})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := loadHostCall(t, h)
			defer m.Close(context.Background())
			for j := 0; j < 20; j++ {
				res, err := m.CallWithTimeout(context.Background(), "loop", 100)
				if err != nil || res[0] != 100 {
					t.Errorf("loop(100) = %v, %v", res, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// liveEntries is how many ids of s are in use: every slot handed out and
// not freed.
func (s *slab[T]) liveEntries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idx.inUse()
}

func TestHostFunctionRegistryIsReleased(t *testing.T) {
	count := hostFuncs.liveEntries
	before := count()
	h, err := NewHost()
	if err != nil {
		t.Fatal(err)
	}
	defineF(t, h, func(context.Context, *Caller, []uint64) error { return nil })
	m := loadHostCall(t, h)
	if count() != before+1 {
		t.Fatalf("%d registered functions; want %d", count(), before+1)
	}
	h.Close()
	if count() != before {
		t.Errorf("%d registered functions after Close; want %d", count(), before)
	}
	if m.id != 0 {
		t.Error("the closed module still has its registry id")
	}
}

// liveModuleIDs is how many module ids are taken.
func liveModuleIDs() int {
	modules.mu.Lock()
	defer modules.mu.Unlock()
	return modules.idx.inUse()
}

// The registry finds a module only while it runs guest code, so it keeps
// nothing alive: a Host dropped without Close, with modules that ran host
// functions (and one that was never closed), is collected, and its
// modules' ids are given back.
func TestDroppedHostIsCollected(t *testing.T) {
	before := liveModuleIDs()
	collected := make(chan struct{})
	func() {
		h, err := NewHost()
		if err != nil {
			t.Fatal(err)
		}
		runtime.AddCleanup(h, func(ch chan struct{}) { close(ch) }, collected)
		var seen atomic.Int64
		defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
			if c.Module() == nil {
				t.Error("a host function ran without its module")
			}
			seen.Add(1)
			return nil
		})
		for range 3 {
			m := loadHostCall(t, h)
			if _, err := m.CallWithTimeout(context.Background(), "loop", 2); err != nil {
				t.Fatal(err)
			}
		}
		if seen.Load() != 6 {
			t.Fatalf("host function ran %d times, want 6", seen.Load())
		}
		if got := liveModuleIDs(); got != before+3 {
			t.Fatalf("%d module ids taken, want %d", got, before+3)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-collected:
		case <-time.After(10 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("the dropped host was not collected")
			}
			continue
		}
		break
	}
	// The modules' own cleanups give their ids back.
	for liveModuleIDs() != before {
		if time.Now().After(deadline) {
			t.Fatalf("%d module ids taken after the host was collected, want %d", liveModuleIDs(), before)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHostFunctionDuringLoad(t *testing.T) {
	// A start function that calls a failing host function fails the load.
	h := newHost(t)
	var inLoad *Module
	defineF(t, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		inLoad = c.Module()
		return errShout
	})
	_, err := h.LoadModule(context.Background(), "start", startCallsF(t))
	if !errors.Is(err, errShout) || !strings.Contains(err.Error(), `load module "start"`) {
		t.Fatalf("err = %v; want errShout from the load", err)
	}
	if inLoad == nil || inLoad.Name() != "start" {
		t.Errorf("caller module during load: %v", inLoad)
	}
}

// startCallsF is (module (import "bench" "f" (func $f (param i64) (result i64)))
// (func $s (drop (call $f (i64.const 7)))) (start $s)).
func startCallsF(t testing.TB) []byte {
	b, err := hex.DecodeString("0061736d0100000001090260017e017e600000020b010562656e636801660000030201010801010a09010700420710001a0b")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCloseFromAStartFunctionStopsTheLoad(t *testing.T) {
	// The start function calls env.f, which closes the module being
	// loaded, then loops: the close must stop the load, not the deadline.
	h := newHost(t)
	if err := h.DefineFunction("env", "f", nil, nil, func(ctx context.Context, c *Caller, stack []uint64) error {
		return c.Module().Close(ctx)
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	m, err := h.LoadModule(ctx, "closes itself", fixture(t, "start_closes_then_loops"))
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the load ran %v after its module was closed", took)
	}
	if m != nil || !errors.Is(err, ErrClosed) || !errors.Is(err, ErrInterrupted) {
		t.Fatalf("LoadModule = %v, %v; want ErrClosed wrapping ErrInterrupted", m, err)
	}
	if ctx.Err() != nil {
		t.Fatal("the load ended by its ctx, not by the close")
	}
	// The host is unharmed and the slot is free.
	add, err := h.LoadModule(context.Background(), "add", fixture(t, "add"))
	if err != nil {
		t.Fatal(err)
	}
	add.Close(context.Background())
	if s := h.Stats(); s.LiveModules != 0 {
		t.Fatalf("HostStats = %+v; want no live modules", s)
	}
}
