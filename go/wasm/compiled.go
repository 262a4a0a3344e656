package wasm

// #include "sbx_go.h"
import "C"

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
)

// tenancy is what a Host keeps for compiled modules and pools. Its maps
// are guarded by Host.mu, so that Host.Close sees one consistent set.
type tenancy struct {
	memoryLimit uint64                       // WithHostMemoryLimit
	compiles    map[*C.sbx_cancel]struct{}   // tokens of compiles in flight
	compiled    map[*compiledModule]struct{} // not yet closed
	pools       map[*Pool]struct{}           // not yet closed
	final       HostStats                    // Host.Stats after Close; set under Host.rw
}

// interruptCompiles stops the compiles in flight; Host.mu is held.
func (t *tenancy) interruptCompiles() {
	for tok := range t.compiles {
		C.sbx_cancel_trigger(tok)
	}
}

// closeTenancy closes the host's pools and compiled modules and records
// its last stats, for Host.Close; h.rw is held exclusively.
func (h *Host) closeTenancy() {
	h.mu.Lock()
	pools := make([]*Pool, 0, len(h.mt.pools))
	for p := range h.mt.pools {
		pools = append(pools, p)
	}
	compiled := make([]*compiledModule, 0, len(h.mt.compiled))
	for c := range h.mt.compiled {
		compiled = append(compiled, c)
	}
	h.mu.Unlock()
	for _, p := range pools {
		p.close(false)
	}
	for _, c := range compiled {
		c.close()
	}
	h.mt.final = h.readStats()
}

// CompiledModule is a module compiled once, from which Instantiate makes
// any number of modules without compiling, hashing or linking again. It is
// safe for concurrent use. Close it when no more instances are needed;
// the modules already made keep working. Closing its Host closes it too.
type CompiledModule struct {
	c *compiledModule
}

// compiledModule is the state a CompiledModule's cleanup and its Host
// share; it must not refer to the CompiledModule.
type compiledModule struct {
	host  *Host
	funcs []Function // immutable

	// memory says whether the module exports a memory, learnt at the first
	// instantiation: memoryUnknown, memoryNone or memoryExported.
	memory atomic.Int32

	// ptr is freed when the compiled module is closed and no Instantiate
	// uses it: Close never waits for a start function. state counts the
	// Instantiates using ptr, with compiledClosed set once closed; whoever
	// brings it to compiledClosed alone frees ptr.
	ptr   *C.sbx_compiled
	state atomic.Int64
}

// CompileModule compiles wasmBytes (or finds them in the compilation
// cache) without instantiating them. ctx bounds the compile as it bounds a
// LoadModule: its deadline stops it with an error wrapping ErrTimeout and
// context.DeadlineExceeded, its cancellation with one wrapping
// ErrInterrupted and context.Canceled (a compile cut short finishes in the
// background, see WithMaxAbandonedCompiles). Safe for concurrent use.
func (h *Host) CompileModule(ctx context.Context, wasmBytes []byte) (*CompiledModule, error) {
	const op = "compile module"
	if ctx == nil {
		ctx = context.Background()
	}
	done := ctx.Done()
	if done != nil {
		if err := ctx.Err(); err != nil {
			return nil, ctxError(op, "the compile did not start", ctx, err)
		}
	}
	timeoutNs := timeoutNone
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, ctxError(op, "the compile did not start", ctx, context.DeadlineExceeded)
		}
		timeoutNs = uint64(left)
	}
	if h.closeStarted() {
		return nil, closedError(op, "host")
	}
	h.rw.RLock()
	defer h.rw.RUnlock()
	if h.ptr == nil {
		return nil, closedError(op, "host")
	}

	// A cancel token, so that ctx and Host.Close can both stop the compile.
	var tok *C.sbx_cancel
	if st := C.sbx_cancel_new(h.ptr, &tok); st != C.SBX_STATUS_OK {
		return nil, newError(op, cError{status: status(st), message: "cannot create a cancel token"}, nil, false)
	}
	defer C.sbx_cancel_free(tok)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, closedError(op, "host")
	}
	if h.mt.compiles == nil {
		h.mt.compiles = make(map[*C.sbx_cancel]struct{})
	}
	h.mt.compiles[tok] = struct{}{}
	h.mu.Unlock()

	var stop func() bool
	var fired chan struct{}
	if done != nil {
		fired = make(chan struct{}, 1)
		stop = context.AfterFunc(ctx, func() {
			C.sbx_cancel_trigger(tok)
			fired <- struct{}{}
		})
	}
	var ptr *C.sbx_compiled
	var cerr *C.sbx_error
	st := C.sbx_compile(h.ptr, bytesPtr(wasmBytes), C.size_t(len(wasmBytes)), C.uint64_t(timeoutNs), tok, &ptr, &cerr)
	if stop != nil && !stop() {
		<-fired // the trigger ran or is running: let it finish before the free
	}
	h.mu.Lock()
	delete(h.mt.compiles, tok)
	closed := h.closed
	h.mu.Unlock()
	if st != C.SBX_STATUS_OK {
		return nil, newError(op, takeError(st, cerr), ctx, closed)
	}

	c := &compiledModule{host: h, ptr: ptr, funcs: compiledFunctions(ptr)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		C.sbx_compiled_free(ptr)
		return nil, closedError(op, "host")
	}
	if h.mt.compiled == nil {
		h.mt.compiled = make(map[*compiledModule]struct{})
	}
	h.mt.compiled[c] = struct{}{}
	h.mu.Unlock()
	cm := &CompiledModule{c: c}
	// A backstop only: a CompiledModule dropped without Close is freed by
	// the garbage collector (the host keeps c, not cm).
	runtime.AddCleanup(cm, func(c *compiledModule) { c.close() }, c)
	return cm, nil
}

// compiledFunctions reads the export list once, at compile.
func compiledFunctions(ptr *C.sbx_compiled) []Function {
	var count C.size_t
	if C.sbx_compiled_function_count(ptr, &count) != C.SBX_STATUS_OK {
		return []Function{}
	}
	funcs := make([]Function, 0, int(count))
	for i := C.size_t(0); i < count; i++ {
		var info C.sbx_function_info
		if C.sbx_compiled_function_at(ptr, i, &info) != C.SBX_STATUS_OK {
			continue
		}
		funcs = append(funcs, Function{
			Name:    C.GoStringN(info.name, C.int(info.name_len)),
			Params:  valueTypes(info.params, info.params_len),
			Results: valueTypes(info.results, info.results_len),
		})
	}
	return funcs
}

// ExportedFunctions describes the compiled module's exported functions, as
// Module.ExportedFunctions does for each of its instances. It works after
// Close too.
func (c *CompiledModule) ExportedFunctions() []Function {
	out := make([]Function, len(c.c.funcs))
	for i, f := range c.c.funcs {
		out[i] = Function{
			Name:    f.Name,
			Params:  append([]ValueType(nil), f.Params...),
			Results: append([]ValueType(nil), f.Results...),
		}
	}
	return out
}

// Instantiate makes a new module called name from the compiled module, as
// LoadModule would from its bytes but without compiling, hashing or
// linking again: it runs the start function (and a WASI reactor's
// _initialize) under ctx, and takes the same options and names and fails
// the same ways as LoadModule. After Close, or its Host's Close, it fails
// with ErrClosed. Safe for concurrent use, also with Close.
func (c *CompiledModule) Instantiate(ctx context.Context, name string, opts ...LoadOption) (*Module, error) {
	const verb = "instantiate module"
	if err := checkModuleName(verb, name); err != nil {
		return nil, err
	}
	cm := c.c
	if !cm.acquire() {
		return nil, closedError(loadOp(verb, name), "compiled module")
	}
	defer cm.release()
	m, err := cm.host.load(ctx, verb, name, nil, cm, opts)
	runtime.KeepAlive(c) // its cleanup would close cm
	return m, err
}

// Close frees the compiled code once no Instantiate uses it (it does not
// wait for them). Modules already made keep working; later Instantiate
// calls fail with ErrClosed. Closing twice is a no-op.
func (c *CompiledModule) Close() error {
	c.c.close()
	return nil
}

const (
	memoryUnknown = iota
	memoryNone
	memoryExported
)

// compiledClosed is the closed bit of compiledModule.state.
const compiledClosed = int64(1) << 62

// acquire marks an Instantiate using ptr; false once closed.
func (c *compiledModule) acquire() bool {
	for {
		old := c.state.Load()
		if old&compiledClosed != 0 {
			return false
		}
		if c.state.CompareAndSwap(old, old+1) {
			return true
		}
	}
}

// release ends an Instantiate, freeing ptr if it was the last user of a
// closed compiled module.
func (c *compiledModule) release() {
	if c.state.Add(-1) == compiledClosed {
		c.free()
	}
}

// close marks the compiled module closed and frees it unless in use;
// idempotent.
func (c *compiledModule) close() {
	if old := c.state.Or(compiledClosed); old == 0 {
		c.free()
	}
	h := c.host
	h.mu.Lock()
	delete(h.mt.compiled, c)
	h.mu.Unlock()
}

// free frees ptr, once: called by whoever saw state become compiledClosed.
func (c *compiledModule) free() {
	C.sbx_compiled_free(c.ptr)
	c.ptr = nil
}
