package wasm

import (
	"context"
	"testing"
)

// manyResultsModule is a module exporting many() -> (i32 x n), returning
// 0, 1, ..., n-1: more results than the call path's stack buffer holds.
// No fixture has one, so the binary is assembled here.
func manyResultsModule(n int) []byte {
	if n > 63 {
		panic("one-byte LEB128 constants only")
	}
	section := func(id byte, body []byte) []byte {
		return append([]byte{id, byte(len(body))}, body...)
	}
	types := []byte{1, 0x60, 0, byte(n)}
	for i := 0; i < n; i++ {
		types = append(types, 0x7f)
	}
	code := []byte{0} // no locals
	for i := 0; i < n; i++ {
		code = append(code, 0x41, byte(i)) // i32.const i
	}
	code = append(code, 0x0b)
	mod := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	mod = append(mod, section(1, types)...)
	mod = append(mod, section(3, []byte{1, 0})...)
	mod = append(mod, section(7, []byte{1, 4, 'm', 'a', 'n', 'y', 0, 0})...)
	mod = append(mod, section(10, append([]byte{1, byte(len(code))}, code...))...)
	return mod
}

func TestMoreResultsThanTheStackBuffer(t *testing.T) {
	h := newHost(t)
	for _, n := range []int{maxInlineValues, maxInlineValues + 1, 40} {
		m, err := h.LoadModule(context.Background(), "many", manyResultsModule(n))
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		for _, ctx := range []context.Context{context.Background(), t.Context()} {
			res, err := m.CallWithTimeout(ctx, "many")
			if err != nil {
				t.Fatalf("n=%d: %v", n, err)
			}
			if len(res) != n {
				t.Fatalf("n=%d: %d results", n, len(res))
			}
			for i, r := range res {
				if DecodeI32(r) != int32(i) {
					t.Fatalf("n=%d: result %d = %d", n, i, r)
				}
			}
		}
		m.Close(context.Background())
	}
}
