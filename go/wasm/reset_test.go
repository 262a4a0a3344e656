package wasm

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// resetState reads back what reset_state.wat keeps: its non-exported
// global, memory byte 0 and the function in table slot 0.
func resetState(t *testing.T, m *Module) [3]int32 {
	t.Helper()
	return [3]int32{callI32(t, m, "global"), callI32(t, m, "byte"), callI32(t, m, "table")}
}

var (
	pristine = [3]int32{7, 42, 1}
	mutated  = [3]int32{99, 99, 2}
)

func TestResetRestoresGlobalMemoryAndTable(t *testing.T) {
	h := newHost(t)
	m := load(t, h, "reset_state")
	if got := resetState(t, m); got != pristine {
		t.Fatalf("after load: %v, want %v", got, pristine)
	}
	if _, err := m.CallWithTimeout(context.Background(), "mutate"); err != nil {
		t.Fatal(err)
	}
	if got := callI32(t, m, "grow", 3); got != 1 {
		t.Fatalf("grow(3) = %d, want 1 (the old page count)", got)
	}
	if got := resetState(t, m); got != mutated {
		t.Fatalf("after mutate: %v, want %v", got, mutated)
	}
	if err := m.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := resetState(t, m); got != pristine {
		t.Fatalf("after Reset: %v, want %v", got, pristine)
	}
	if size := m.Memory().Size(); size != 64<<10 {
		t.Fatalf("memory after Reset: %d bytes, want 65536", size)
	}
	if m.Name() != "reset_state" {
		t.Fatalf("name after Reset: %q", m.Name())
	}
	if s := m.Stats(); s.Resets != 1 {
		t.Fatalf("Stats().Resets = %d, want 1", s.Resets)
	}
}

func TestResetOfClosedModuleIsErrClosed(t *testing.T) {
	h := newHost(t)
	m := load(t, h, "reset_state")
	m.Close(context.Background())
	if err := m.Reset(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reset after Close: %v, want ErrClosed", err)
	}
}

func TestResetHonoursCtx(t *testing.T) {
	h := newHost(t)
	m := load(t, h, "reset_state")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := m.Reset(ctx)
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Reset(cancelled ctx): %v, want ErrInterrupted and context.Canceled", err)
	}
	// The module was not touched.
	if got := callI32(t, m, "byte"); got != 42 {
		t.Fatalf("byte = %d, want 42", got)
	}
}

// start_import.wat's start function calls test.start: once it fails, a
// Reset fails, and leaves the module closed.
func TestFailedResetClosesModule(t *testing.T) {
	h := newHost(t)
	var stopStart atomic.Bool
	if err := h.DefineFunction("test", "start", nil, nil, func(ctx context.Context, c *Caller, stack []uint64) error {
		if stopStart.Load() {
			return errors.New("start refused")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	m := load(t, h, "start_import")
	stopStart.Store(true)
	err := m.Reset(context.Background())
	if !errors.Is(err, ErrHostFunction) || !strings.Contains(err.Error(), "start refused") {
		t.Fatalf("Reset with a failing start function: %v, want ErrHostFunction with its message", err)
	}
	if _, err := m.CallWithTimeout(context.Background(), "one"); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after a failed Reset: %v, want ErrClosed", err)
	}
	if err := m.Reset(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reset after a failed Reset: %v, want ErrClosed", err)
	}
	if n := h.Stats().LiveModules; n != 0 {
		t.Fatalf("LiveModules = %d after the failed reset, want 0", n)
	}
}

func TestResetAfterFailureKeepsFailedStateUntilNextCall(t *testing.T) {
	h := newHost(t)
	c := compile(t, h, "reset_state")
	m, err := c.Instantiate(context.Background(), "m", WithResetAfterFailure())
	if err != nil {
		t.Fatal(err)
	}
	// A success leaves the state as it is.
	if _, err := m.CallWithTimeout(context.Background(), "mutate"); err != nil {
		t.Fatal(err)
	}
	if got := resetState(t, m); got != mutated {
		t.Fatalf("after a successful mutate: %v, want %v (no reset)", got, mutated)
	}
	if err := m.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}

	_, err = m.CallWithTimeout(context.Background(), "mutate_then_trap")
	var trap *TrapError
	if !errors.As(err, &trap) || trap.Code != TrapUnreachable {
		t.Fatalf("mutate_then_trap: %v, want an unreachable trap", err)
	}
	// The failed state is readable until the next call.
	var b [1]byte
	if !m.Memory().ReadInto(0, b[:]) || b[0] != 99 {
		t.Fatalf("memory byte 0 after the trap = %d, want 99 (the failed state)", b[0])
	}
	if got := resetState(t, m); got != pristine {
		t.Fatalf("calls after the trap see %v, want %v", got, pristine)
	}

	// A timeout too.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := m.CallWithTimeout(ctx, "mutate_then_spin"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("mutate_then_spin: %v, want ErrTimeout", err)
	}
	if got := resetState(t, m); got != pristine {
		t.Fatalf("after the timeout: %v, want %v", got, pristine)
	}
	if s := m.Stats(); s.Resets != 3 || s.Traps != 1 || s.Timeouts != 1 {
		t.Fatalf("stats %+v: want 3 resets (one explicit), 1 trap, 1 timeout", s)
	}
}

func TestResetAfterEachCallIsolatesRequests(t *testing.T) {
	h := newHost(t)
	m, err := h.LoadModule(context.Background(), "m", fixture(t, "reset_state"), WithResetAfterEachCall())
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 50; i++ {
		if prev := callI32(t, m, "remember", uint64(i)); prev != 0 {
			t.Fatalf("call %d saw the previous input %d", i, prev)
		}
		// The result stays readable until the next call.
		var b [4]byte
		if !m.Memory().ReadInto(8, b[:]) || b[0] != byte(i) {
			t.Fatalf("call %d: memory after the call = %v, want its input", i, b)
		}
	}
	// Without the policy, the guest does remember.
	plain := load(t, h, "reset_state")
	callI32(t, plain, "remember", 5)
	if prev := callI32(t, plain, "remember", 6); prev != 5 {
		t.Fatalf("without a reset policy remember saw %d, want 5", prev)
	}
	if s := m.Stats(); s.Calls != 50 || s.Resets != 49 {
		t.Fatalf("stats %+v: want 50 calls and 49 resets (the last is pending)", s)
	}
}

func TestResetAfterEachCallMemoryWriteLandsInFreshInstance(t *testing.T) {
	h := newHost(t)
	m, err := h.LoadModule(context.Background(), "m", fixture(t, "reset_state"), WithResetAfterEachCall())
	if err != nil {
		t.Fatal(err)
	}
	callI32(t, m, "remember", 11)
	// Input written for the next call: the pending reset happens first.
	if !m.Memory().WriteUint32Le(8, 77) {
		t.Fatal("write failed")
	}
	if prev := callI32(t, m, "remember", 12); prev != 77 {
		t.Fatalf("remember saw %d, want the 77 written before the call", prev)
	}
}

// A closed module's slot serves the next load, its load options kept to
// save work: nothing of one load's options may reach the next.
func TestReusedSlotCarriesNoLoadOptions(t *testing.T) {
	h := newHost(t)
	ctx := context.Background()
	spares := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.spare.s)
	}
	each, err := h.LoadModule(ctx, "each", fixture(t, "reset_state"), WithResetAfterEachCall())
	if err != nil {
		t.Fatal(err)
	}
	each.Close(ctx)
	if n := spares(); n != 1 {
		t.Fatalf("%d spare slots after a close, want 1", n)
	}
	// The reset policy went with its module.
	plain := load(t, h, "reset_state")
	if n := spares(); n != 0 {
		t.Fatalf("%d spare slots after a load, want 0: the slot was not reused", n)
	}
	callI32(t, plain, "remember", 5)
	if prev := callI32(t, plain, "remember", 6); prev != 5 {
		t.Fatalf("remember saw %d, want 5: the reused slot kept a reset policy", prev)
	}
	plain.Close(ctx)

	// So did a module's own WASI world: this host has none, so a WASI
	// module loaded without one cannot link.
	withWASI := loadWASI(t, h, "hello", WithModuleWASI(WASIConfig{}))
	withWASI.Close(ctx)
	if n := spares(); n != 1 {
		t.Fatalf("%d spare slots after a close, want 1", n)
	}
	if _, err := h.LoadModule(ctx, "hello", wasiFixture(t, "hello")); !errors.Is(err, ErrLink) {
		t.Fatalf("WASI module without a WASI world: err = %v, want ErrLink", err)
	}
}
