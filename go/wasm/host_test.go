package wasm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fixture reads testdata/<name>.wasm from the repository root.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name+".wasm"))
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return b
}

// newHost is NewHost that fails the test on error and closes at cleanup.
// openModules counts the host's open modules.
func (h *Host) openModules() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, p := range h.places.s {
		if p.open {
			n++
		}
	}
	return n
}

func newHost(t testing.TB, opts ...Option) *Host {
	t.Helper()
	h, err := NewHost(opts...)
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// load loads a fixture under its own name, failing the test on error.
func load(t testing.TB, h *Host, name string) *Module {
	t.Helper()
	m, err := h.LoadModule(context.Background(), name, fixture(t, name))
	if err != nil {
		t.Fatalf("LoadModule(%s): %v", name, err)
	}
	return m
}

// callI32 calls fn and returns its one i32 result, failing the test on error.
func callI32(t testing.TB, m *Module, fn string, params ...uint64) int32 {
	t.Helper()
	res, err := m.CallWithTimeout(context.Background(), fn, params...)
	if err != nil {
		t.Fatalf("%s: %v", fn, err)
	}
	if len(res) != 1 {
		t.Fatalf("%s: %d results, want 1", fn, len(res))
	}
	return DecodeI32(res[0])
}

func TestWasmHost_LoadAndCallModule(t *testing.T) {
	h, err := NewHost()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.ExecTimeout() != 0 {
		t.Errorf("ExecTimeout() = %v, want 0", h.ExecTimeout())
	}
	m, err := h.LoadModule(context.Background(), "add", fixture(t, "add"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != "add" {
		t.Errorf("Name() = %q", m.Name())
	}
	res, err := m.CallWithTimeout(context.Background(), "add", EncodeI32(2), EncodeI32(3))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || DecodeI32(res[0]) != 5 {
		t.Fatalf("add(2, 3) = %v, want [5]", res)
	}
	res, err = m.CallWithTimeout(context.Background(), "add", EncodeI32(-7), EncodeI32(3))
	if err != nil || DecodeI32(res[0]) != -4 {
		t.Fatalf("add(-7, 3) = %v, %v; want -4", res, err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWasmHost_ModuleIsolation(t *testing.T) {
	h := newHost(t)
	a, err := h.LoadModule(context.Background(), "counter-a", fixture(t, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.LoadModule(context.Background(), "counter-b", fixture(t, "counter"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		callI32(t, a, "inc")
	}
	if got := callI32(t, a, "get"); got != 3 {
		t.Errorf("a.get() = %d, want 3", got)
	}
	if got := callI32(t, b, "get"); got != 0 {
		t.Errorf("b.get() = %d, want 0: modules share state", got)
	}
	add := load(t, h, "add")

	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CallWithTimeout(context.Background(), "get"); !errors.Is(err, ErrClosed) {
		t.Errorf("closed module: err = %v, want ErrClosed", err)
	}
	if got := callI32(t, b, "inc"); got != 1 {
		t.Errorf("b.inc() after closing a = %d, want 1", got)
	}
	if got := callI32(t, add, "add", EncodeI32(1), EncodeI32(2)); got != 3 {
		t.Errorf("add after closing a = %d, want 3", got)
	}
}

func TestWasmHost_ExecTimeoutEnforced(t *testing.T) {
	h := newHost(t, WithExecTimeout(50*time.Millisecond))
	if h.ExecTimeout() != 50*time.Millisecond {
		t.Fatalf("ExecTimeout() = %v", h.ExecTimeout())
	}
	m := load(t, h, "infinite_loop")
	start := time.Now()
	_, err := m.CallWithTimeout(context.Background(), "loop")
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want ErrTimeout too", err)
	}
	if elapsed < 45*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("stopped after %v, want about 50ms", elapsed)
	}
	// The module stays usable and the deadline is re-armed for every call.
	if _, err := m.CallWithTimeout(context.Background(), "loop"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second call: err = %v", err)
	}
}

func TestWasmHost_LoadModule_EmptyName(t *testing.T) {
	h := newHost(t)
	for _, name := range []string{"", "  ", "\t\n", "\xff"} {
		m, err := h.LoadModule(context.Background(), name, fixture(t, "add"))
		if err == nil {
			m.Close(context.Background())
			t.Errorf("LoadModule(%q) succeeded", name)
			continue
		}
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("LoadModule(%q): err = %v, want ErrInvalidName", name, err)
		}
	}
	// The name is checked before compiling: garbage bytes still say "name".
	if _, err := h.LoadModule(context.Background(), " ", []byte("garbage")); !errors.Is(err, ErrInvalidName) {
		t.Errorf("err = %v, want ErrInvalidName", err)
	}
}
