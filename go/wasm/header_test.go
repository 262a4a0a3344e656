package wasm

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// headerEnum reads the values of an enum of the C header, e.g. prefix
// "SBX_STATUS_" gives {"OK": 0, "INVALID_ARGUMENT": 1, ...}: a constant
// added there without its Go counterpart fails the tests below.
func headerEnum(t *testing.T, prefix string) map[string]uint64 {
	t.Helper()
	src, err := os.ReadFile("../../include/sbx.h")
	if err != nil {
		t.Fatal(err)
	}
	values := make(map[string]uint64)
	re := regexp.MustCompile(`(?m)^\s*` + prefix + `(\w+) = (\d+),`)
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		v, err := strconv.ParseUint(m[2], 10, 64)
		if err != nil {
			t.Fatalf("%s%s = %s: %v", prefix, m[1], m[2], err)
		}
		values[m[1]] = v
	}
	if len(values) == 0 {
		t.Fatalf("no %s* constant in sbx.h", prefix)
	}
	return values
}

func TestHeaderStatuses(t *testing.T) {
	// The sentinel each failing status becomes; INTERNAL alone is ErrInternal.
	want := map[string]error{
		"INVALID_ARGUMENT":   ErrInvalidArgument,
		"HANDLE_CLOSED":      ErrClosed,
		"OUT_OF_BOUNDS":      ErrInvalidArgument,
		"COMPILE_ERROR":      ErrCompile,
		"LINK_ERROR":         ErrLink,
		"INSTANCE_LIMIT":     ErrInstanceLimit,
		"RESOURCE_LIMIT":     ErrResourceLimit,
		"EXPORT_NOT_FOUND":   ErrExportNotFound,
		"SIGNATURE_MISMATCH": ErrSignatureMismatch,
		"TIMEOUT":            ErrTimeout,
		"INTERRUPTED":        ErrInterrupted,
		"FUEL_EXHAUSTED":     ErrFuelExhausted,
		"TRAP":               ErrTrap,
		"EXIT":               ErrExit,
		"HOST_ERROR":         ErrHostFunction,
		"IO":                 ErrIO,
		"INTERNAL":           ErrInternal,
	}
	statuses := headerEnum(t, "SBX_STATUS_")
	if statuses["OK"] != 0 {
		t.Errorf("SBX_STATUS_OK = %d, want 0", statuses["OK"])
	}
	delete(statuses, "OK")
	for name, v := range statuses {
		sentinel, ok := want[name]
		if !ok {
			t.Errorf("SBX_STATUS_%s (%d) has no Go sentinel: map it in kindOf and add it here", name, v)
			continue
		}
		if got := kindOf(status(v)); got != sentinel {
			t.Errorf("kindOf(SBX_STATUS_%s) = %v, want %v", name, got, sentinel)
		}
		if name != "INTERNAL" && kindOf(status(v)) == ErrInternal {
			t.Errorf("SBX_STATUS_%s falls back to ErrInternal", name)
		}
		// The whole path from a C failure, traps and exits included.
		err := newError("op", cError{status: status(v), message: "msg"}, nil, false)
		if !errors.Is(err, sentinel) {
			t.Errorf("newError(SBX_STATUS_%s) = %v, want one wrapping %v", name, err, sentinel)
		}
		if got := statusName(status(v)); got != "SBX_STATUS_"+name {
			t.Errorf("statusName(%d) = %q, want SBX_STATUS_%s", v, got, name)
		}
	}
	for name := range want {
		if _, ok := statuses[name]; !ok {
			t.Errorf("SBX_STATUS_%s is gone from sbx.h: drop it here and in ffi.go", name)
		}
	}
}

func TestHeaderTrapCodes(t *testing.T) {
	want := map[string]TrapCode{
		"NONE":                      TrapNone,
		"STACK_OVERFLOW":            TrapStackOverflow,
		"MEMORY_OUT_OF_BOUNDS":      TrapMemoryOutOfBounds,
		"HEAP_MISALIGNED":           TrapHeapMisaligned,
		"TABLE_OUT_OF_BOUNDS":       TrapTableOutOfBounds,
		"INDIRECT_CALL_TO_NULL":     TrapIndirectCallToNull,
		"BAD_SIGNATURE":             TrapBadSignature,
		"INTEGER_OVERFLOW":          TrapIntegerOverflow,
		"INTEGER_DIVISION_BY_ZERO":  TrapIntegerDivisionByZero,
		"BAD_CONVERSION_TO_INTEGER": TrapBadConversionToInteger,
		"UNREACHABLE":               TrapUnreachable,
		"ALLOCATION_TOO_LARGE":      TrapAllocationTooLarge,
		"NULL_REFERENCE":            TrapNullReference,
		"OTHER":                     TrapOther,
	}
	codes := headerEnum(t, "SBX_TRAP_CODE_")
	for name, v := range codes {
		code, ok := want[name]
		if !ok {
			t.Errorf("SBX_TRAP_CODE_%s (%d) has no Go TrapCode: add one to errors.go and here", name, v)
		} else if uint64(code) != v {
			t.Errorf("Trap for SBX_TRAP_CODE_%s = %d, want %d", name, code, v)
		}
	}
	if len(codes) != len(want) {
		t.Errorf("sbx.h has %d trap codes, Go %d", len(codes), len(want))
	}
}

func TestHeaderValueTypes(t *testing.T) {
	want := map[string]ValueType{
		"I32":        ValueTypeI32,
		"I64":        ValueTypeI64,
		"F32":        ValueTypeF32,
		"F64":        ValueTypeF64,
		"V128":       ValueTypeV128,
		"FUNC_REF":   ValueTypeFuncref,
		"EXTERN_REF": ValueTypeExternref,
		"OTHER_REF":  ValueTypeOtherRef,
	}
	types := headerEnum(t, "SBX_VALUE_TYPE_")
	for name, v := range types {
		vt, ok := want[name]
		if !ok {
			t.Errorf("SBX_VALUE_TYPE_%s (%d) has no Go ValueType: add one to types.go and here", name, v)
		} else if uint64(vt) != v {
			t.Errorf("ValueType for SBX_VALUE_TYPE_%s = %d, want %d", name, vt, v)
		}
	}
	if len(types) != len(want) {
		t.Errorf("sbx.h has %d value types, Go %d", len(types), len(want))
	}
}
