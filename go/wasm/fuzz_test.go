package wasm

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sentinels are every error a failed call may wrap (issue 9's oracle:
// sentinel errors only). ErrInternal is left out on purpose: it never
// appears.
var sentinels = []error{
	ErrInvalidName, ErrInvalidOption, ErrInvalidArgument, ErrClosed, ErrCompile, ErrLink,
	ErrInstanceLimit, ErrResourceLimit, ErrExportNotFound, ErrSignatureMismatch, ErrTimeout,
	ErrInterrupted, ErrFuelExhausted, ErrTrap, ErrExit, ErrHostFunction, ErrIO,
}

// checkSentinel fails unless err wraps one of the sentinels and not ErrInternal.
func checkSentinel(t *testing.T, op string, err error) {
	t.Helper()
	if errors.Is(err, ErrInternal) {
		t.Fatalf("%s: ErrInternal: %v", op, err)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			// One line, but for a trap's backtrace, which follows its message.
			msg := err.Error()
			var trap *TrapError
			if errors.As(err, &trap) {
				msg = trap.Message
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("%s: a message of several lines: %q", op, msg)
			}
			return
		}
	}
	t.Fatalf("%s: not a sentinel error: %T %v", op, err, err)
}

// fuzzSeeds adds every fixture of testdata/ as a seed.
func fuzzSeeds(f *testing.F, add func(name string, wasm []byte)) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "*.wasm"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		add(strings.TrimSuffix(filepath.Base(p), ".wasm"), b)
	}
}

// FuzzLoadModule loads arbitrary bytes under an arbitrary name, then calls
// every export of what loads with zero params.
func FuzzLoadModule(f *testing.F) {
	fuzzSeeds(f, func(name string, wasm []byte) { f.Add(name, wasm) })
	f.Add("", []byte("\x00asm\x01\x00\x00\x00"))
	f.Add(" ", []byte{})
	f.Add("a\x00b", []byte("\x00asm"))
	f.Add("\xff", []byte("\x00asm\x01\x00\x00\x00"))
	h, err := NewHost(WithFuelLimit(1_000_000), WithExecTimeout(50*time.Millisecond),
		WithMemoryLimit(64<<20))
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close()
	f.Fuzz(func(t *testing.T, name string, wasm []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := h.LoadModule(ctx, name, wasm)
		if err != nil {
			if m != nil {
				t.Fatalf("a module with the error %v", err)
			}
			checkSentinel(t, "LoadModule", err)
			return
		}
		defer m.Close(ctx)
		for _, fn := range m.ExportedFunctions() {
			params := make([]uint64, len(fn.Params))
			if _, err := m.CallWithTimeout(ctx, fn.Name, params...); err != nil {
				checkSentinel(t, "CallWithTimeout "+fn.Name, err)
			}
		}
	})
}

// callFixtures are the modules FuzzCallWithTimeout calls, each with a call
// that must succeed after any failure.
var callFixtures = []struct {
	name   string
	probe  string
	params []uint64
	want   uint64
}{
	{"add", "add", []uint64{2, 3}, 5},
	{"all_types", "id_i64", []uint64{7}, 7},
	{"fib", "fib", []uint64{10}, 55},
	{"trap_unreachable", "", nil, 0},
	{"infinite_loop", "", nil, 0},
	{"stack_bomb", "", nil, 0},
}

// FuzzCallWithTimeout calls fixtures with arbitrary export names, params
// and deadlines: only sentinel errors, and the module still answers after
// a failure.
func FuzzCallWithTimeout(f *testing.F) {
	for i, c := range callFixtures {
		f.Add(uint8(i), c.probe, []byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}, uint32(1_000_000))
	}
	f.Add(uint8(1), "swap", []byte{}, uint32(0))
	f.Add(uint8(0), "nope", []byte{9}, uint32(1))
	f.Add(uint8(4), "loop", []byte{}, uint32(5_000_000))
	h, err := NewHost(WithFuelLimit(2_000_000), WithMemoryLimit(16<<20))
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close()
	mods := make([]*Module, len(callFixtures))
	for i, c := range callFixtures {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", c.name+".wasm"))
		if err != nil {
			f.Fatal(err)
		}
		if mods[i], err = h.LoadModule(context.Background(), c.name, b); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, fnName string, raw []byte, timeoutNs uint32) {
		c := callFixtures[int(which)%len(callFixtures)]
		m := mods[int(which)%len(mods)]
		params := make([]uint64, 0, len(raw)/8)
		for len(raw) >= 8 && len(params) < 20 {
			params = append(params, binary.LittleEndian.Uint64(raw))
			raw = raw[8:]
		}
		ctx := context.Background()
		if timeoutNs != 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(timeoutNs%20_000_000))
			defer cancel()
		}
		if _, err := m.CallWithTimeout(ctx, fnName, params...); err != nil {
			checkSentinel(t, "CallWithTimeout", err)
			if c.probe != "" {
				got, err := m.CallWithTimeout(context.Background(), c.probe, c.params...)
				if err != nil || len(got) != 1 || got[0] != c.want {
					t.Fatalf("%s after a failure: %v, %v", c.probe, got, err)
				}
			}
		}
	})
}
