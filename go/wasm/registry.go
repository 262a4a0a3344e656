package wasm

import (
	"sync"
	"sync/atomic"
)

// The C side refers to Go objects (host functions, modules, output writers)
// by integer ids, never by pointer. A host function call looks up two of
// them, so lookups are lock-free: a slab is a two-level table of atomic
// pointers, and ids are slot numbers (plus one, so that 0 is no id), reused
// after removal.
const (
	slabChunk  = 1024
	slabChunks = 4096 // at most 4M live entries per slab
)

// indexes hands out slot indexes, reusing freed ones first; its owner's
// mutex guards it.
type indexes struct {
	free []uint64
	next uint64
}

// take is a free index, or false when all slabChunk*slabChunks are in use.
func (x *indexes) take() (uint64, bool) {
	if n := len(x.free); n > 0 {
		i := x.free[n-1]
		x.free = x.free[:n-1]
		return i, true
	}
	if x.next >= slabChunk*slabChunks {
		return 0, false
	}
	x.next++
	return x.next - 1, true
}

func (x *indexes) give(i uint64) { x.free = append(x.free, i) }

// inUse is how many indexes are taken.
func (x *indexes) inUse() int { return int(x.next) - len(x.free) }

type slab[T any] struct {
	mu     sync.Mutex // guards idx and adding chunks
	idx    indexes
	chunks [slabChunks]atomic.Pointer[[slabChunk]atomic.Pointer[T]]
}

// add stores v and returns its id, or 0 if the slab is full.
func (s *slab[T]) add(v *T) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.idx.take()
	if !ok {
		return 0
	}
	c := s.chunks[i/slabChunk].Load()
	if c == nil {
		c = new([slabChunk]atomic.Pointer[T])
		s.chunks[i/slabChunk].Store(c)
	}
	c[i%slabChunk].Store(v)
	return i + 1
}

// get is the entry of id, or nil.
func (s *slab[T]) get(id uint64) *T {
	i := id - 1 // 0 wraps around, out of range
	if i >= slabChunk*slabChunks {
		return nil
	}
	c := s.chunks[i/slabChunk].Load()
	if c == nil {
		return nil
	}
	return c[i%slabChunk].Load()
}

// remove frees id if it still holds v (v == nil: whatever it holds).
func (s *slab[T]) remove(id uint64, v *T) {
	i := id - 1
	if i >= slabChunk*slabChunks {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chunks[i/slabChunk].Load()
	if c == nil {
		return
	}
	cur := c[i%slabChunk].Load()
	if cur == nil || (v != nil && cur != v) {
		return
	}
	c[i%slabChunk].Store(nil)
	s.idx.give(i)
}

var (
	hostFuncs   slab[hostFunc]
	outputSinks slab[outputSink]
	modules     moduleTable
)

// moduleTable maps module ids to modules. An id is taken with a slot and
// freed with it (a closed module's slot is kept for a later load), but its
// entry holds the module
// only while the module runs guest code (its load, a call or a reset):
// the only time a host function of it can run and look it up. So the
// table keeps no module alive (a Host and its modules dropped without
// Close can be collected) and needs no weak pointer per module.
//
// An id belongs to a host's slot (sbx_go.h), and each module using the
// slot uses its id. An entry is written and read only by the goroutine
// running the module's guest code (a cgo callback runs on the goroutine
// that called into C), and an id moves between goroutines only through a
// mutex (mu, or the host's with its slot): plain stores suffice, and a
// call pays no atomic instruction for them.
type moduleTable struct {
	mu     sync.Mutex // guards idx and adding chunks
	idx    indexes
	chunks [slabChunks]atomic.Pointer[[slabChunk]*Module]
}

// take returns a free id, or 0 if the table is full.
func (t *moduleTable) take() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.idx.take()
	if !ok {
		return 0
	}
	if t.chunks[i/slabChunk].Load() == nil {
		t.chunks[i/slabChunk].Store(new([slabChunk]*Module))
	}
	return i + 1
}

// entry is the place of id, a taken id; nil for 0 or an id never taken.
func (t *moduleTable) entry(id uint64) **Module {
	i := id - 1 // 0 wraps around, out of range
	if i >= slabChunk*slabChunks {
		return nil
	}
	c := t.chunks[i/slabChunk].Load()
	if c == nil {
		return nil
	}
	return &c[i%slabChunk]
}

// release frees id, taken and not yet released; its entry is nil (the
// module left its guest code), so any goroutine may release it.
func (t *moduleTable) release(id uint64) {
	if t.entry(id) == nil {
		return
	}
	t.mu.Lock()
	t.idx.give(id - 1)
	t.mu.Unlock()
}

// lookupModule is the module running guest code under id, or nil.
func lookupModule(id uint64) *Module {
	if e := modules.entry(id); e != nil {
		return *e
	}
	return nil
}

// enterGuest makes m findable by its host functions until leaveGuest;
// called by the goroutine about to run m's guest code.
func (m *Module) enterGuest() { *modules.entry(m.id) = m }

// leaveGuest ends enterGuest, before the module can be released.
func (m *Module) leaveGuest() { *modules.entry(m.id) = nil }
