package wasm

/*
#include "sbx_go.h"

// The counters by value, so that Go passes no pointer (which would escape
// to the heap); size is 0 if the library refused.
static inline sbx_module_counters sbx_go_module_stats(uintptr_t module) {
	sbx_module_counters c = {0};
	c.size = sizeof c;
	if (sbx_module_stats((const sbx_module *)module, &c) != SBX_STATUS_OK)
		c.size = 0;
	return c;
}

static inline sbx_host_counters sbx_go_host_stats(uintptr_t host) {
	sbx_host_counters c = {0};
	c.size = sizeof c;
	if (sbx_host_stats((const sbx_host *)host, &c) != SBX_STATUS_OK)
		c.size = 0;
	return c;
}
*/
import "C"

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// ModuleStats is what a module has done since it was loaded (Module.Stats).
type ModuleStats struct {
	// Calls that ran guest code; calls refused before that (a closed
	// module, an unknown export, a ctx already done) do not count.
	Calls uint64
	// Failed calls, by kind: stopped by their deadline, interrupted
	// (a cancelled ctx or a Close), out of fuel, trapped, failed by a host
	// function, or ended by a non-zero WASI exit.
	Timeouts, Interrupts, FuelExhausted, Traps, HostErrors, Exits uint64
	// Resets, by Module.Reset or a reset policy.
	Resets uint64
	// CallTime is the time spent in calls.
	CallTime time.Duration
	// FuelConsumed is the fuel calls used, failed ones included; 0 without
	// WithFuelLimit.
	FuelConsumed uint64
	// MemoryBytes is the module's linear memory now, all memories together
	// (0 once closed); MemoryPeakBytes the most it has been.
	MemoryBytes, MemoryPeakBytes uint64
}

// HostStats is what a host holds now (Host.Stats).
type HostStats struct {
	// LiveModules are the modules loaded or instantiated and not closed,
	// pool instances and loads in flight included.
	LiveModules uint64
	// CompiledModules are the compiled modules not yet freed.
	CompiledModules uint64
	// Pools are the pools made by NewPool and not yet closed.
	Pools uint64
	// PooledInstances are the instances in Wasmtime's pooling allocator
	// (WithPooling); 0 without it.
	PooledInstances uint64
	// MemoryBytes is the linear memory of all the host's modules together,
	// MemoryPeakBytes the most it has been, and MemoryLimitBytes the
	// budget WithHostMemoryLimit set (0 for none).
	MemoryBytes, MemoryPeakBytes, MemoryLimitBytes uint64
}

// statsHandle is the module handle Stats reads. Stats takes none of the
// module's call lock: it reads the library's atomic counters, and state
// only keeps Close from freeing the handle during that one cgo call.
type statsHandle struct {
	// state counts the Stats calls reading ptr, or is statsFreeing while
	// release frees it, then statsFreed.
	state atomic.Int32
	ptr   *C.sbx_module
	final ModuleStats // after release
}

const (
	statsFreeing = -1
	statsFreed   = -2
)

// attach sets ptr before the module is published: no lock is needed.
func (s *statsHandle) attach(ptr *C.sbx_module) {
	s.ptr = ptr
}

// release frees the module (in one cgo crossing), keeping its
// last stats.
func (s *statsHandle) release(mod *C.sbx_module) {
	for !s.state.CompareAndSwap(0, statsFreeing) {
		runtime.Gosched() // a Stats call is reading: one short cgo call
	}
	c := C.sbx_go_release(cAddr(unsafe.Pointer(mod)))
	s.final = moduleStats(c)
	s.final.MemoryBytes = 0
	s.ptr = nil
	s.state.Store(statsFreed)
}

// Stats reads the module's counters: one cgo call, no lock a running call
// holds, so it answers at once, also while a call runs and after Close.
func (m *Module) Stats() ModuleStats {
	s := &m.stats
	for {
		switch n := s.state.Load(); n {
		case statsFreed:
			return s.final
		case statsFreeing:
			runtime.Gosched() // Close is freeing the handle: one cgo call
		default:
			if s.state.CompareAndSwap(n, n+1) {
				stats := readModuleStats(s.ptr)
				s.state.Add(-1)
				return stats
			}
		}
	}
}

func readModuleStats(ptr *C.sbx_module) ModuleStats {
	return moduleStats(C.sbx_go_module_stats(cAddr(unsafe.Pointer(ptr))))
}

func moduleStats(c C.sbx_module_counters) ModuleStats {
	if c.size == 0 {
		return ModuleStats{}
	}
	return ModuleStats{
		Calls:           uint64(c.calls),
		Timeouts:        uint64(c.timeouts),
		Interrupts:      uint64(c.interrupts),
		FuelExhausted:   uint64(c.fuel_exhausted),
		Traps:           uint64(c.traps),
		HostErrors:      uint64(c.host_errors),
		Exits:           uint64(c.exits),
		Resets:          uint64(c.resets),
		CallTime:        time.Duration(c.call_time_ns),
		FuelConsumed:    uint64(c.fuel_consumed),
		MemoryBytes:     uint64(c.memory_bytes),
		MemoryPeakBytes: uint64(c.memory_peak_bytes),
	}
}

// Stats reads the host's counters (one cgo call). After Close it returns
// what they were when Close finished.
func (h *Host) Stats() HostStats {
	h.rw.RLock() // Close holds it until done: no half-closed host is seen
	defer h.rw.RUnlock()
	if h.ptr == nil {
		return h.mt.final
	}
	return h.readStats()
}

// readStats is one sbx_host_stats; h.rw is held.
func (h *Host) readStats() HostStats {
	c := C.sbx_go_host_stats(cAddr(unsafe.Pointer(h.ptr)))
	if c.size == 0 {
		return HostStats{}
	}
	h.mu.Lock()
	pools := len(h.mt.pools)
	h.mu.Unlock()
	return HostStats{
		LiveModules:      uint64(c.live_modules),
		CompiledModules:  uint64(c.compiled_modules),
		Pools:            uint64(pools),
		PooledInstances:  uint64(c.pooled_instances),
		MemoryBytes:      uint64(c.memory_bytes),
		MemoryPeakBytes:  uint64(c.memory_peak_bytes),
		MemoryLimitBytes: uint64(c.memory_limit_bytes),
	}
}

// WithHostMemoryLimit is a budget, in bytes, for the linear memories of
// all the host's modules together, pooled or not, at least 64 KiB; 0 (the
// default) means none. memory.grow past it returns -1 in the guest, and a
// LoadModule, Instantiate or Reset that would pass it fails with
// ErrResourceLimit, naming the budget. WithMemoryLimit still bounds each
// module. Closing a module gives its bytes back.
func WithHostMemoryLimit(bytes uint64) Option {
	return func(h *Host) { h.mt.memoryLimit = bytes }
}

// deadlinePassed says whether ctx (the call's, read by its trigger; see
// Module.attach) ended because its deadline, which the library was given,
// has passed.
func deadlinePassed(ctx context.Context) bool {
	if ctx == nil || ctx.Err() != context.DeadlineExceeded {
		return false
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
