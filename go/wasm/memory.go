package wasm

// #include "sbx_go.h"
import "C"

import (
	"encoding/binary"
	"runtime"
)

// Memory is a module's exported linear memory (its "memory" export, or else
// its first exported memory). Every method is one bounds-checked copy made
// by the library, so the memory may grow between calls: nothing is cached.
// Out-of-range accesses return false and copy nothing; they never panic,
// and neither do methods on a nil *Memory (they return zero values and
// false). Offsets are guest addresses, as a wasm32 guest passes them (an
// i32 param decoded with DecodeU32).
//
// From Module.Memory, each access waits for a call in progress on the
// module to finish, except inside a host function of the module's own
// call, where it goes through that call (as Caller.Memory does). A waiting
// access fails (false, or size 0) as soon as the module is closed.
type Memory struct {
	m *Module
	c *Caller // non-nil: access through this caller
}

// Memory is the module's exported memory, or nil if it exports none (or m
// is nil).
func (m *Module) Memory() *Memory {
	if m == nil || !m.hasMemory {
		return nil
	}
	return &m.mem
}

// Size is the memory's current size in bytes; 0 if it cannot be read (no
// memory, a closed module, or a Caller used after its host function).
func (mem *Memory) Size() uint64 {
	if mem == nil {
		return 0
	}
	var size C.uint64_t
	var st C.sbx_status
	if mem.c != nil {
		st = C.sbx_go_caller_size(mem.c.addr(), C.uintptr_t(mem.c.thread), &size)
	} else if m := mem.m; m.reentrant() {
		c := &m.hostCalls.Load().caller // a host function runs: they exist
		st = C.sbx_go_caller_size(c.addr(), C.uintptr_t(c.thread), &size)
	} else {
		if !m.lock() {
			return 0
		}
		if m.ptr == nil {
			st = C.SBX_STATUS_HANDLE_CLOSED
		} else {
			st = C.sbx_module_memory_size(m.ptr, &size)
		}
		m.lk.unlock()
	}
	if st != C.SBX_STATUS_OK {
		return 0
	}
	return uint64(size)
}

// copyOut copies len(buf) bytes at offset into buf.
func (mem *Memory) copyOut(offset uint64, buf []byte) bool { return mem.transfer(offset, buf, false) }

// copyIn copies data into the memory at offset.
func (mem *Memory) copyIn(offset uint64, data []byte) bool { return mem.transfer(offset, data, true) }

// transfer is one bounded copy in C, into the guest's memory when write is
// set and out of it otherwise: through the running host function's caller
// when there is one (the module's own lock is held by its call), else
// through the module (waiting for a call in flight).
func (mem *Memory) transfer(offset uint64, buf []byte, write bool) bool {
	if mem == nil {
		return false
	}
	if len(buf) == 0 {
		return offset <= mem.Size()
	}
	ptr, n, off := bytesPtr(buf), C.size_t(len(buf)), C.uint64_t(offset)
	var st C.sbx_status
	if c := mem.callerNow(); c != nil {
		if write {
			st = C.sbx_go_caller_write(c.addr(), C.uintptr_t(c.thread), off, ptr, n)
		} else {
			st = C.sbx_go_caller_read(c.addr(), C.uintptr_t(c.thread), off, ptr, n)
		}
	} else {
		m := mem.m
		if !m.lock() {
			return false
		}
		switch {
		case m.ptr == nil:
			st = C.SBX_STATUS_HANDLE_CLOSED
		case write:
			st = C.sbx_module_memory_write(m.ptr, off, ptr, n)
		default:
			st = C.sbx_module_memory_read(m.ptr, off, ptr, n)
		}
		m.lk.unlock()
	}
	runtime.KeepAlive(buf)
	return st == C.SBX_STATUS_OK
}

// callerNow is the caller to go through: the Caller's own, or the module's
// when this goroutine runs one of its host functions; nil otherwise.
func (mem *Memory) callerNow() *Caller {
	if mem.c != nil {
		return mem.c
	}
	if mem.m.reentrant() {
		return &mem.m.hostCalls.Load().caller // a host function runs: they exist
	}
	return nil
}

// largeRead is the size above which Read checks the bounds before
// allocating, so that a guest-supplied length cannot make it allocate
// gigabytes for nothing.
const largeRead = 64 << 10

// Read returns a copy of byteCount bytes at offset, or false if they are
// not all inside the memory.
func (mem *Memory) Read(offset, byteCount uint32) ([]byte, bool) {
	if mem == nil {
		return nil, false
	}
	if byteCount > largeRead && uint64(offset)+uint64(byteCount) > mem.Size() {
		return nil, false
	}
	buf := make([]byte, byteCount)
	if !mem.copyOut(uint64(offset), buf) {
		return nil, false
	}
	return buf, true
}

// ReadInto fills buf with the bytes at offset, without allocating, or
// returns false (buf unchanged) if they are not all inside the memory.
func (mem *Memory) ReadInto(offset uint32, buf []byte) bool {
	return mem.copyOut(uint64(offset), buf)
}

// Write copies data into the memory at offset, or returns false (nothing
// written) if it does not fit entirely.
func (mem *Memory) Write(offset uint32, data []byte) bool {
	return mem.copyIn(uint64(offset), data)
}

// ReadUint32Le reads a little-endian uint32 at offset.
func (mem *Memory) ReadUint32Le(offset uint32) (uint32, bool) {
	var b [4]byte
	if !mem.copyOut(uint64(offset), b[:]) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[:]), true
}

// WriteUint32Le writes v little-endian at offset.
func (mem *Memory) WriteUint32Le(offset, v uint32) bool {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return mem.copyIn(uint64(offset), b[:])
}

// ReadUint64Le reads a little-endian uint64 at offset.
func (mem *Memory) ReadUint64Le(offset uint32) (uint64, bool) {
	var b [8]byte
	if !mem.copyOut(uint64(offset), b[:]) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[:]), true
}

// WriteUint64Le writes v little-endian at offset.
func (mem *Memory) WriteUint64Le(offset uint32, v uint64) bool {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return mem.copyIn(uint64(offset), b[:])
}
