package wasm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// nestedLoops is a module whose one function "run" is depth nested empty
// loops: small, and seconds to compile (issue 8).
func nestedLoops(depth int) []byte {
	leb := func(b []byte, n int) []byte {
		for {
			c := byte(n & 0x7f)
			n >>= 7
			if n == 0 {
				return append(b, c)
			}
			b = append(b, c|0x80)
		}
	}
	body := []byte{0} // no locals
	for range depth {
		body = append(body, 0x03, 0x40) // loop, empty type
	}
	for range depth + 1 {
		body = append(body, 0x0b) // end
	}
	code := leb([]byte{1}, len(body))
	code = append(code, body...)
	w := []byte("\x00asm\x01\x00\x00\x00")
	w = append(w, 1, 4, 1, 0x60, 0, 0)             // type 0: [] -> []
	w = append(w, 3, 2, 1, 0)                      // function 0: type 0
	w = append(w, 7, 7, 1, 3, 'r', 'u', 'n', 0, 0) // export "run"
	w = leb(append(w, 10), len(code))              // code section
	return append(w, code...)
}

func TestLoadDeadlineCoversCompile(t *testing.T) {
	h := newHost(t, WithMaxAbandonedCompiles(1))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.LoadModule(ctx, "bomb", nestedLoops(10000))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 300*time.Millisecond+slack {
		t.Errorf("returned after %v", elapsed)
	}

	// The abandoned compile still runs: the next load that needs one is refused.
	_, err = h.LoadModule(context.Background(), "add", fixture(t, "add"))
	if !errors.Is(err, ErrInstanceLimit) || !strings.Contains(err.Error(), "max_abandoned_compiles") {
		t.Fatalf("err = %v, want ErrInstanceLimit naming max_abandoned_compiles", err)
	}

	// Close does not wait for the compile.
	start = time.Now()
	h.Close()
	if elapsed := time.Since(start); elapsed > slack {
		t.Errorf("Close took %v", elapsed)
	}
}

func TestMaxAbandonedCompilesRange(t *testing.T) {
	if _, err := NewHost(WithMaxAbandonedCompiles(0)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("err = %v, want ErrInvalidOption", err)
	}
}
