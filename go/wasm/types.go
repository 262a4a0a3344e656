package wasm

// #include "sbx_go.h"
import "C"

import (
	"math"
	"strings"
)

// ValueType is a wasm value type as it appears in a signature; the values
// are SBX_VALUE_TYPE_*.
type ValueType uint8

// Value types, taken from the C header (TestHeaderValueTypes checks that
// every type there has one). Only I32, I64, F32 and F64 cross as uint64; a
// function using another type cannot be called (ErrSignatureMismatch).
const (
	ValueTypeI32       ValueType = C.SBX_VALUE_TYPE_I32
	ValueTypeI64       ValueType = C.SBX_VALUE_TYPE_I64
	ValueTypeF32       ValueType = C.SBX_VALUE_TYPE_F32
	ValueTypeF64       ValueType = C.SBX_VALUE_TYPE_F64
	ValueTypeV128      ValueType = C.SBX_VALUE_TYPE_V128
	ValueTypeFuncref   ValueType = C.SBX_VALUE_TYPE_FUNC_REF
	ValueTypeExternref ValueType = C.SBX_VALUE_TYPE_EXTERN_REF
	ValueTypeOtherRef  ValueType = C.SBX_VALUE_TYPE_OTHER_REF
)

// String is the wasm text name, e.g. "i32".
func (t ValueType) String() string {
	switch t {
	case ValueTypeI32:
		return "i32"
	case ValueTypeI64:
		return "i64"
	case ValueTypeF32:
		return "f32"
	case ValueTypeF64:
		return "f64"
	case ValueTypeV128:
		return "v128"
	case ValueTypeFuncref:
		return "funcref"
	case ValueTypeExternref:
		return "externref"
	default:
		return "ref"
	}
}

// Function describes an exported function.
type Function struct {
	Name    string
	Params  []ValueType
	Results []ValueType
}

// String is the signature in the form "add(i32, i32) -> i32"; several
// results are parenthesised and none are left out.
func (f Function) String() string {
	var b strings.Builder
	b.WriteString(f.Name)
	b.WriteByte('(')
	writeTypes(&b, f.Params)
	b.WriteByte(')')
	switch len(f.Results) {
	case 0:
	case 1:
		b.WriteString(" -> ")
		b.WriteString(f.Results[0].String())
	default:
		b.WriteString(" -> (")
		writeTypes(&b, f.Results)
		b.WriteByte(')')
	}
	return b.String()
}

func writeTypes(b *strings.Builder, types []ValueType) {
	for i, t := range types {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t.String())
	}
}

// Values cross as uint64, encoded exactly as wazero's api package encodes
// them, so code written against wazero keeps working.

// EncodeI32 encodes an i32 param: its bits in the low 32, upper bits zero.
func EncodeI32(v int32) uint64 { return uint64(uint32(v)) }

// DecodeI32 decodes an i32 result.
func DecodeI32(v uint64) int32 { return int32(v) }

// EncodeU32 encodes an unsigned value as an i32 param.
func EncodeU32(v uint32) uint64 { return uint64(v) }

// DecodeU32 decodes an i32 result as unsigned.
func DecodeU32(v uint64) uint32 { return uint32(v) }

// EncodeI64 encodes an i64 param.
func EncodeI64(v int64) uint64 { return uint64(v) }

// DecodeI64 decodes an i64 result.
func DecodeI64(v uint64) int64 { return int64(v) }

// EncodeF32 encodes an f32 param: its IEEE-754 bits in the low 32.
func EncodeF32(v float32) uint64 { return uint64(math.Float32bits(v)) }

// DecodeF32 decodes an f32 result.
func DecodeF32(v uint64) float32 { return math.Float32frombits(uint32(v)) }

// EncodeF64 encodes an f64 param: its IEEE-754 bits.
func EncodeF64(v float64) uint64 { return math.Float64bits(v) }

// DecodeF64 decodes an f64 result.
func DecodeF64(v uint64) float64 { return math.Float64frombits(v) }
