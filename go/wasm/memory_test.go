package wasm

import (
	"bytes"
	"context"
	"math"
	"testing"
)

func TestMemoryBoundsAndGrowth(t *testing.T) {
	h := newHost(t)
	m := load(t, h, "memory_bomb")
	mem := m.Memory()
	if mem == nil || mem.Size() != 65536 {
		t.Fatalf("Memory() = %v, size %d; want 64 KiB", mem, mem.Size())
	}
	if !mem.Write(65532, []byte{1, 2, 3, 4}) {
		t.Fatal("write of the last 4 bytes failed")
	}
	if b, ok := mem.Read(65532, 4); !ok || !bytes.Equal(b, []byte{1, 2, 3, 4}) {
		t.Fatalf("Read = %v, %v", b, ok)
	}
	for _, tc := range []struct {
		offset, n uint32
	}{{65533, 4}, {65536, 1}, {math.MaxUint32, 1}, {math.MaxUint32, math.MaxUint32}, {0, 65537}, {0, 1 << 30}} {
		if b, ok := mem.Read(tc.offset, tc.n); ok || b != nil {
			t.Errorf("Read(%d, %d) succeeded", tc.offset, tc.n)
		}
		if mem.Write(tc.offset, make([]byte, min(tc.n, 1<<17))) && tc.n <= 1<<17 {
			t.Errorf("Write(%d, %d bytes) succeeded", tc.offset, tc.n)
		}
	}
	if b, ok := mem.Read(65532, 4); !ok || !bytes.Equal(b, []byte{1, 2, 3, 4}) {
		t.Errorf("a failed write changed memory: %v", b)
	}
	if _, ok := mem.ReadUint32Le(65533); ok {
		t.Error("ReadUint32Le past the end succeeded")
	}
	if mem.WriteUint64Le(65529, 1) {
		t.Error("WriteUint64Le past the end succeeded")
	}
	if b, ok := mem.Read(65536, 0); !ok || len(b) != 0 {
		t.Error("an empty read at the end failed")
	}
	if _, ok := mem.Read(65537, 0); ok {
		t.Error("an empty read past the end succeeded")
	}

	// Growth between calls is seen at once.
	if got := callI32(t, m, "grow", 1); got != 1 {
		t.Fatalf("grow(1) = %d", got)
	}
	if mem.Size() != 2*65536 {
		t.Fatalf("size after grow: %d", mem.Size())
	}
	if !mem.WriteUint32Le(65536+100, 0xdeadbeef) {
		t.Fatal("write into the new page failed")
	}
	if v, ok := mem.ReadUint32Le(65536 + 100); !ok || v != 0xdeadbeef {
		t.Errorf("ReadUint32Le = %#x, %v", v, ok)
	}
	buf := make([]byte, 8)
	if !mem.WriteUint64Le(16, 0x0102030405060708) || !mem.ReadInto(16, buf) ||
		!bytes.Equal(buf, []byte{8, 7, 6, 5, 4, 3, 2, 1}) {
		t.Errorf("ReadInto = %v", buf)
	}

	m.Close(context.Background())
	if mem.Size() != 0 || mem.Write(0, []byte{1}) || mem.ReadInto(0, buf) {
		t.Error("memory of a closed module is usable")
	}
}

func TestMemoryNilAndAbsent(t *testing.T) {
	h := newHost(t)
	if m := load(t, h, "add"); m.Memory() != nil {
		t.Error("add exports no memory, but Memory() is not nil")
	}
	var mem *Memory
	if mem.Size() != 0 || mem.Write(0, []byte{1}) || mem.ReadInto(0, make([]byte, 1)) || mem.WriteUint32Le(0, 1) {
		t.Error("a nil *Memory did something")
	}
	if b, ok := mem.Read(0, 1); ok || b != nil {
		t.Error("a nil *Memory read")
	}
	var m *Module
	if m.Memory() != nil {
		t.Error("(*Module)(nil).Memory() is not nil")
	}
}

// BenchmarkMemoryCopy1MiB writes then reads 1 MiB through Memory; "go" does
// the same two copies between Go slices, the floor.
func BenchmarkMemoryCopy1MiB(b *testing.B) {
	const size = 1 << 20
	src := bytes.Repeat([]byte{0xa5}, size)
	dst := make([]byte, size)
	b.Run("sbx", func(b *testing.B) {
		h := newHost(b)
		m, err := h.LoadModule(context.Background(), "big", fixture(b, "memory_bomb"))
		if err != nil {
			b.Fatal(err)
		}
		callI32(b, m, "grow", 32)
		mem := m.Memory()
		b.SetBytes(2 * size)
		b.ReportAllocs()
		for b.Loop() {
			if !mem.Write(0, src) || !mem.ReadInto(0, dst) {
				b.Fatal("copy failed")
			}
		}
	})
	b.Run("go", func(b *testing.B) {
		guest := make([]byte, size)
		b.SetBytes(2 * size)
		b.ReportAllocs()
		for b.Loop() {
			copy(guest, src)
			copy(dst, guest)
		}
	})
}
