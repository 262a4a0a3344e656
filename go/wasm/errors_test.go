package wasm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSentinelErrors(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, WithMaxModules(3))
	add := load(t, h, "add")

	t.Run("link", func(t *testing.T) {
		_, err := h.LoadModule(ctx, "u", fixture(t, "unresolved_import"))
		if !errors.Is(err, ErrLink) || !strings.Contains(err.Error(), "missing_function") {
			t.Fatalf("err = %v, want ErrLink naming the import", err)
		}
	})
	t.Run("compile", func(t *testing.T) {
		for _, b := range [][]byte{[]byte("not wasm at all"), nil, {0, 'a', 's', 'm', 1, 0, 0, 0, 0xff}} {
			if _, err := h.LoadModule(ctx, "g", b); !errors.Is(err, ErrCompile) {
				t.Errorf("LoadModule(%q): err = %v, want ErrCompile", b, err)
			}
		}
	})
	t.Run("resource limit", func(t *testing.T) {
		if _, err := h.LoadModule(ctx, "big", fixture(t, "big_memory")); !errors.Is(err, ErrResourceLimit) {
			t.Fatalf("err = %v, want ErrResourceLimit", err)
		}
	})
	t.Run("export not found", func(t *testing.T) {
		if _, err := add.CallWithTimeout(ctx, "sub", 1, 2); !errors.Is(err, ErrExportNotFound) {
			t.Errorf("err = %v, want ErrExportNotFound", err)
		}
		if _, err := add.CallWithTimeout(ctx, ""); !errors.Is(err, ErrExportNotFound) {
			t.Errorf("empty name: err = %v, want ErrExportNotFound", err)
		}
		all := load(t, h, "all_types")
		defer all.Close(ctx)
		if _, err := all.CallWithTimeout(ctx, "memory"); !errors.Is(err, ErrExportNotFound) {
			t.Errorf("a memory export: err = %v, want ErrExportNotFound", err)
		}
		if _, err := all.CallWithTimeout(ctx, "v128_param", 1); !errors.Is(err, ErrSignatureMismatch) {
			t.Errorf("v128 param: err = %v, want ErrSignatureMismatch", err)
		}
		if _, err := all.CallWithTimeout(ctx, "funcref_result"); !errors.Is(err, ErrSignatureMismatch) {
			t.Errorf("funcref result: err = %v, want ErrSignatureMismatch", err)
		}
	})
	t.Run("signature mismatch", func(t *testing.T) {
		for _, params := range [][]uint64{nil, {1}, {1, 2, 3}} {
			_, err := add.CallWithTimeout(ctx, "add", params...)
			if !errors.Is(err, ErrSignatureMismatch) {
				t.Errorf("add%v: err = %v, want ErrSignatureMismatch", params, err)
			}
		}
	})
	t.Run("instance limit", func(t *testing.T) {
		// add is loaded; two more fill the cap of 3.
		a := load(t, h, "noop")
		b := load(t, h, "counter")
		_, err := h.LoadModule(ctx, "one too many", fixture(t, "noop"))
		if !errors.Is(err, ErrInstanceLimit) {
			t.Fatalf("err = %v, want ErrInstanceLimit", err)
		}
		a.Close(ctx)
		c := load(t, h, "noop") // closing frees the slot
		c.Close(ctx)
		b.Close(ctx)
	})
	t.Run("fuel", func(t *testing.T) {
		fh := newHost(t, WithFuelLimit(10_000))
		m := load(t, fh, "infinite_loop")
		if _, err := m.CallWithTimeout(ctx, "loop"); !errors.Is(err, ErrFuelExhausted) {
			t.Fatalf("err = %v, want ErrFuelExhausted", err)
		}
	})
	t.Run("io", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := NewHost(WithCompilationCache(filepath.Join(file, "cache")))
		if !errors.Is(err, ErrIO) {
			t.Fatalf("err = %v, want ErrIO", err)
		}
	})
	t.Run("every error has a message", func(t *testing.T) {
		_, err := add.CallWithTimeout(ctx, "sub")
		var e *Error
		if !errors.As(err, &e) || e.Msg == "" || !strings.Contains(err.Error(), `"sub"`) {
			t.Fatalf("err = %#v", err)
		}
	})
}

func TestInvalidOptions(t *testing.T) {
	for name, opt := range map[string]Option{
		"negative exec timeout": WithExecTimeout(-1),
		"memory too small":      WithMemoryLimit(1024),
		"memory too large":      WithMemoryLimit(5 << 30),
		"no table elements":     WithTableElementsLimit(0),
		"too many elements":     WithTableElementsLimit(1 << 32),
		"stack too small":       WithMaxWasmStack(1024),
		"stack too large":       WithMaxWasmStack(64 << 20),
		"no modules":            WithMaxModules(0),
		"negative modules":      WithMaxModules(-1),
		"empty cache dir":       WithCompilationCache(""),
	} {
		h, err := NewHost(opt)
		if err == nil {
			h.Close()
			t.Errorf("%s: NewHost succeeded", name)
		} else if !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: err = %v, want ErrInvalidOption", name, err)
		}
	}
	// Each message is the library's own (sbx_config_validate), naming the
	// setting and its range.
	for _, c := range []struct {
		opt  Option
		want string
	}{
		{WithMemoryLimit(64<<10 - 1), "memory limit 65535 is outside 64 KiB..=4 GiB"},
		{WithMemoryLimit(4<<30 + 1), "memory limit 4294967297 is outside 64 KiB..=4 GiB"},
		{WithTableElementsLimit(1 << 32), "table elements limit must be 1..=2^32-1"},
		{WithMaxWasmStack(16<<10 - 1), "max wasm stack 16383 is outside 16 KiB..=4 MiB"},
		{WithMaxWasmStack(4<<20 + 1), "max wasm stack 4194305 is outside 16 KiB..=4 MiB"},
		{WithMaxModules(0), "max modules must be at least 1"},
		{WithMaxAbandonedCompiles(0), "max abandoned compiles must be at least 1: at 0 every compile would be refused"},
		{WithMaxModules(-1), "WithMaxModules(-1): does not fit the library's uint32"},
		{WithCompilationCache(""), `WithCompilationCache(""): the directory must not be empty`},
	} {
		if _, err := NewHost(c.opt); err == nil || err.Error() != "wasm: NewHost: "+c.want {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
	// Several invalid settings: the library reports the first it checks.
	_, err := NewHost(WithMaxModules(0), WithMemoryLimit(1))
	if err == nil || err.Error() != "wasm: NewHost: memory limit 1 is outside 64 KiB..=4 GiB" {
		t.Errorf("err = %v, want the memory limit", err)
	}
	_, err = NewHost(WithMaxModules(5000), WithPooling(true))
	if !errors.Is(err, ErrInvalidOption) || err.Error() != "wasm: NewHost: a pooled host has at most 4096 slots, not 5000" {
		t.Errorf("pool of 5000: err = %v, want ErrInvalidOption", err)
	}
	// Valid extremes and every option together.
	h, err := NewHost(WithExecTimeout(0), WithFuelLimit(1<<40), WithMemoryLimit(64<<10),
		WithTableElementsLimit(1<<32-1), WithMaxWasmStack(16<<10), WithMaxModules(8),
		WithPooling(true), WithCompilationCache(t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := load(t, h, "add")
	if got := callI32(t, m, "add", 40, 2); got != 42 {
		t.Errorf("add = %d", got)
	}
	h.Close()
	// The upper extremes, which the library must accept too (a bound
	// tighter here than there would not show otherwise).
	h, err = NewHost(WithMemoryLimit(4<<30), WithMaxWasmStack(4<<20), WithMaxModules(1<<32-1),
		WithMaxAbandonedCompiles(1<<32-1))
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
}

func TestTrapErrors(t *testing.T) {
	ctx := context.Background()
	h := newHost(t)
	for _, tc := range []struct {
		fixture, fn string
		params      []uint64
		code        TrapCode
	}{
		{"trap_unreachable", "run", nil, TrapUnreachable},
		{"trap_memory_out_of_bounds", "run", nil, TrapMemoryOutOfBounds},
		{"trap_divide_by_zero", "run", []uint64{0}, TrapIntegerDivisionByZero},
		{"trap_integer_overflow", "run", nil, TrapIntegerOverflow},
		{"trap_bad_conversion", "run", nil, TrapBadConversionToInteger},
		{"trap_indirect_call_to_null", "run", nil, TrapIndirectCallToNull},
		{"trap_indirect_call_type_mismatch", "run", nil, TrapBadSignature},
		{"trap_table_out_of_bounds", "run", nil, TrapTableOutOfBounds},
		{"stack_bomb", "recurse", []uint64{0}, TrapStackOverflow},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			m := load(t, h, tc.fixture)
			defer m.Close(ctx)
			_, err := m.CallWithTimeout(ctx, tc.fn, tc.params...)
			var trap *TrapError
			if !errors.As(err, &trap) {
				t.Fatalf("err = %v, want a *TrapError", err)
			}
			if trap.Code != tc.code {
				t.Errorf("Code = %v (%d), want %v (%d)", trap.Code, trap.Code, tc.code, tc.code)
			}
			if !errors.Is(err, ErrTrap) {
				t.Errorf("err does not wrap ErrTrap")
			}
			if trap.Message == "" {
				t.Errorf("empty Message")
			}
			if trap.Backtrace != "" && !strings.Contains(err.Error(), strings.TrimSpace(trap.Backtrace)) {
				t.Errorf("Error() leaves out the backtrace:\n%v", err)
			}
			if tc.code != TrapStackOverflow && trap.Backtrace == "" {
				t.Errorf("no backtrace")
			}
			// One frame per line, numbered from the innermost; no heading.
			if trap.Backtrace != "" {
				for i, line := range strings.Split(trap.Backtrace, "\n") {
					if !strings.HasPrefix(line, fmt.Sprintf("%d: ", i)) || !strings.Contains(line, "!") {
						t.Errorf("backtrace line %d = %q", i, line)
					}
				}
			}
			// The module stays usable after a trap.
			if tc.fixture == "trap_divide_by_zero" {
				if got := callI32(t, m, "run", 1); got != 1 {
					t.Errorf("run(1) = %d", got)
				}
			}
		})
	}
}

func TestTrapCodeNames(t *testing.T) {
	for _, c := range []TrapCode{TrapNone, TrapStackOverflow, TrapMemoryOutOfBounds, TrapHeapMisaligned,
		TrapTableOutOfBounds, TrapIndirectCallToNull, TrapBadSignature, TrapIntegerOverflow,
		TrapIntegerDivisionByZero, TrapBadConversionToInteger, TrapUnreachable,
		TrapAllocationTooLarge, TrapNullReference, TrapOther} {
		if s := c.String(); s == "" || s == "unknown" {
			t.Errorf("TrapCode(%d).String() = %q", c, s)
		}
	}
	if s := TrapCode(200).String(); s != "unknown" {
		t.Errorf("TrapCode(200).String() = %q", s)
	}
}

func TestFuel(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, WithFuelLimit(1_000_000))
	m := load(t, h, "fib")
	if got := callI32(t, m, "fib", 10); got != 55 {
		t.Fatalf("fib(10) = %d", got)
	}
	small, err := m.FuelConsumed()
	if err != nil || small == 0 {
		t.Fatalf("FuelConsumed() = %d, %v; want > 0", small, err)
	}
	callI32(t, m, "fib", 15)
	large, _ := m.FuelConsumed()
	if large <= small {
		t.Errorf("fib(15) used %d fuel, fib(10) %d", large, small)
	}
	// Each call gets the full budget again.
	if _, err := m.CallWithTimeout(ctx, "fib", 40); !errors.Is(err, ErrFuelExhausted) {
		t.Fatalf("fib(40): err = %v, want ErrFuelExhausted", err)
	}
	if got := callI32(t, m, "fib", 10); got != 55 {
		t.Fatalf("fib(10) after exhaustion = %d", got)
	}

	off := load(t, newHost(t), "fib")
	callI32(t, off, "fib", 10)
	if fuel, err := off.FuelConsumed(); err != nil || fuel != 0 {
		t.Errorf("metering off: FuelConsumed() = %d, %v", fuel, err)
	}
}

func TestMemoryLimit(t *testing.T) {
	h := newHost(t, WithMemoryLimit(1<<20))
	m := load(t, h, "memory_bomb")
	if got := callI32(t, m, "grow_all"); got != 16 {
		t.Fatalf("grow_all() = %d pages, want 16 (1 MiB)", got)
	}
	if got := callI32(t, m, "grow", 1); got != -1 {
		t.Errorf("grow(1) past the limit = %d, want -1", got)
	}
}

func TestValueTypes(t *testing.T) {
	ctx := context.Background()
	m := load(t, newHost(t), "all_types")
	one := func(fn string, v uint64) uint64 {
		t.Helper()
		res, err := m.CallWithTimeout(ctx, fn, v)
		if err != nil || len(res) != 1 {
			t.Fatalf("%s: %v, %v", fn, res, err)
		}
		return res[0]
	}
	if got := DecodeI32(one("id_i32", EncodeI32(-5))); got != -5 {
		t.Errorf("id_i32(-5) = %d", got)
	}
	if got := DecodeU32(one("id_i32", EncodeU32(math.MaxUint32))); got != math.MaxUint32 {
		t.Errorf("id_i32(MaxUint32) = %d", got)
	}
	if got := DecodeI64(one("id_i64", EncodeI64(math.MinInt64))); got != math.MinInt64 {
		t.Errorf("id_i64 = %d", got)
	}
	if got := DecodeF32(one("neg_f32", EncodeF32(1.5))); got != -1.5 {
		t.Errorf("neg_f32(1.5) = %v", got)
	}
	if got := DecodeF64(one("id_f64", EncodeF64(math.Pi))); got != math.Pi {
		t.Errorf("id_f64 = %v", got)
	}
	res, err := m.CallWithTimeout(ctx, "swap", EncodeI32(7), EncodeI64(-9))
	if err != nil || len(res) != 2 || DecodeI64(res[0]) != -9 || DecodeI32(res[1]) != 7 {
		t.Errorf("swap(7, -9) = %v, %v", res, err)
	}
	res, err = m.CallWithTimeout(ctx, "mix", EncodeI32(1), EncodeI64(2), EncodeF32(0.5), EncodeF64(0.25))
	if err != nil || DecodeF64(res[0]) != 3.75 {
		t.Errorf("mix = %v, %v", res, err)
	}

	var sigs []string
	for _, f := range m.ExportedFunctions() {
		sigs = append(sigs, f.String())
	}
	got := strings.Join(sigs, "; ")
	for _, want := range []string{"id_i32(i32) -> i32", "swap(i32, i64) -> (i64, i32)",
		"mix(i32, i64, f32, f64) -> f64", "v128_param(v128)", "funcref_result() -> funcref"} {
		if !strings.Contains(got, want) {
			t.Errorf("ExportedFunctions() = %s; missing %s", got, want)
		}
	}
	if strings.Contains(got, "memory") {
		t.Errorf("ExportedFunctions() lists a non-function: %s", got)
	}
}

func TestEncoding(t *testing.T) {
	// As wazero's api package encodes them.
	if EncodeI32(-1) != 0xffffffff || EncodeI64(-1) != math.MaxUint64 || EncodeU32(7) != 7 {
		t.Error("integer encoding")
	}
	if EncodeF32(1) != 0x3f800000 || EncodeF64(1) != 0x3ff0000000000000 {
		t.Error("float encoding")
	}
	if DecodeI32(0xffffffff_ffffffff) != -1 || DecodeU32(1<<32|5) != 5 {
		t.Error("decoding ignores the upper bits")
	}
}

// A call the token stopped because ctx ended is a timeout when ctx's
// deadline passed (the token can beat the library's own deadline), and an
// interruption when ctx was cancelled.
func TestInterruptedByContext(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	err := newError("op", cError{status: statusInterrupted, message: "interrupted"}, expired, false)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrInterrupted) {
		t.Errorf("deadline: %v; want ErrTimeout wrapping DeadlineExceeded", err)
	}
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	err = newError("op", cError{status: statusInterrupted, message: "interrupted"}, cancelled, false)
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Errorf("cancel: %v; want ErrInterrupted wrapping Canceled", err)
	}
}
