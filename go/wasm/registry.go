package wasm

import (
	"sync"
	"sync/atomic"
	"weak"
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

type slab[T any] struct {
	mu     sync.Mutex // guards free, next and adding chunks
	free   []uint64
	next   uint64
	chunks [slabChunks]atomic.Pointer[[slabChunk]atomic.Pointer[T]]
}

// add stores v and returns its id, or 0 if the slab is full.
func (s *slab[T]) add(v *T) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var i uint64
	if n := len(s.free); n > 0 {
		i, s.free = s.free[n-1], s.free[:n-1]
	} else {
		if s.next >= slabChunk*slabChunks {
			return 0
		}
		i = s.next
		s.next++
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
	s.free = append(s.free, i)
}

var (
	hostFuncs   slab[hostFunc]
	outputSinks slab[outputSink]
	// modules holds every loaded (or loading) module, weakly, so that a
	// module dropped without Close can still be collected.
	modules slab[weak.Pointer[Module]]
)

// moduleEntry is a module's registration, removed by exactly its owner.
type moduleEntry = weak.Pointer[Module]

func registerModule(m *Module) (uint64, *moduleEntry) {
	e := weak.Make(m)
	return modules.add(&e), &e
}

func lookupModule(id uint64) *Module {
	if e := modules.get(id); e != nil {
		return e.Value()
	}
	return nil
}
