package wasm

// #include "sbx_go.h"
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Host compiles and runs WebAssembly modules under the limits its options
// set. It is safe for concurrent use. Close it to release every module it
// loaded.
type Host struct {
	cfg hostConfig

	// rw is held shared by every load (which uses ptr) and exclusively by
	// Close while it frees ptr.
	rw  sync.RWMutex
	ptr *C.sbx_host

	// mu guards the fields below.
	mu      sync.Mutex
	closed  bool
	modules map[*Module]struct{}
	loads   map[*C.sbx_cancel]*Module // tokens of loads in flight, with their modules
	mt      tenancy                   // compiled modules, compiles, pools, budget (compiled.go)

	cleanup runtime.Cleanup
}

// NewHost creates a host. With no options it has no execution timeout, no
// fuel metering, 256 MiB of memory per module and at most 1,000 modules.
func NewHost(opts ...Option) (*Host, error) {
	h := &Host{
		modules: make(map[*Module]struct{}),
		loads:   make(map[*C.sbx_cancel]*Module),
	}
	for _, opt := range opts {
		if opt != nil {
			opt(h)
		}
	}
	if h.cfg.pooling && h.cfg.maxModules > maxPoolingModules {
		h.cfg.fail("WithPooling(true) with WithMaxModules(%d): the pool holds at most %d modules",
			h.cfg.maxModules, maxPoolingModules)
	}
	if h.cfg.err != nil {
		return nil, h.cfg.err
	}

	cfg := C.sbx_config_new()
	if cfg == nil {
		return nil, &Error{Op: "NewHost", Msg: "cannot allocate a config", kind: ErrInternal}
	}
	defer C.sbx_config_free(cfg)
	c := &h.cfg
	set := func(option string, st C.sbx_status) {
		if st != C.SBX_STATUS_OK {
			c.fail("%s: rejected by the library (%s)", option, statusName(status(st)))
		}
	}
	if c.fuel != 0 {
		set(fmt.Sprintf("WithFuelLimit(%d)", c.fuel), C.sbx_config_set_fuel(cfg, C.uint64_t(c.fuel)))
	}
	if c.memory != 0 {
		set(fmt.Sprintf("WithMemoryLimit(%d)", c.memory), C.sbx_config_set_memory_limit(cfg, C.uint64_t(c.memory)))
	}
	if c.tableElems != 0 {
		set(fmt.Sprintf("WithTableElementsLimit(%d)", c.tableElems),
			C.sbx_config_set_table_elements_limit(cfg, C.uint64_t(c.tableElems)))
	}
	if c.wasmStack != 0 {
		set(fmt.Sprintf("WithMaxWasmStack(%d)", c.wasmStack), C.sbx_config_set_max_wasm_stack(cfg, C.uint64_t(c.wasmStack)))
	}
	if c.maxModules != 0 {
		set(fmt.Sprintf("WithMaxModules(%d)", c.maxModules), C.sbx_config_set_max_modules(cfg, C.uint32_t(c.maxModules)))
	}
	if c.maxAbandon != 0 {
		set(fmt.Sprintf("WithMaxAbandonedCompiles(%d)", c.maxAbandon),
			C.sbx_config_set_max_abandoned_compiles(cfg, C.uint32_t(c.maxAbandon)))
	}
	if h.mt.memoryLimit != 0 {
		set(fmt.Sprintf("WithHostMemoryLimit(%d)", h.mt.memoryLimit),
			C.sbx_config_set_host_memory_limit(cfg, C.uint64_t(h.mt.memoryLimit)))
	}
	if c.pooling { // after max modules: the pool is sized by it
		set("WithPooling(true)", C.sbx_config_set_pooling(cfg, C.bool(true)))
	}
	if c.cacheDir != "" {
		set(fmt.Sprintf("WithCompilationCache(%q)", c.cacheDir),
			C.sbx_config_set_cache_dir(cfg, stringPtr(c.cacheDir), C.size_t(len(c.cacheDir))))
	}
	if c.wasi != nil {
		wc, err := c.wasi.build()
		if err != nil {
			c.fail("WithWASI: %v", err)
		} else {
			set("WithWASI", C.sbx_config_set_wasi(cfg, wc))
			C.sbx_wasi_config_free(wc) // the config holds a copy
		}
	}
	if c.err != nil {
		return nil, c.err
	}

	var cerr *C.sbx_error
	if st := C.sbx_host_new(cfg, &h.ptr, &cerr); st != C.SBX_STATUS_OK {
		return nil, newError("NewHost", takeError(st, cerr), nil, false)
	}
	// A backstop only: a Host that is dropped without Close is freed by the
	// garbage collector (its modules, which reference it, go with it).
	h.cleanup = runtime.AddCleanup(h, func(p *C.sbx_host) { C.sbx_close(p) }, h.ptr)
	return h, nil
}

// ExecTimeout is the timeout WithExecTimeout set, or zero for none.
func (h *Host) ExecTimeout() time.Duration { return h.cfg.execTimeout }

// LoadModule compiles and instantiates wasmBytes, running its start function
// (and a WASI reactor's _initialize), as a module called name. The name must
// not be empty or only whitespace (ErrInvalidName). The host's ExecTimeout
// does not apply; ctx bounds the load instead: its deadline stops it with an
// error satisfying errors.Is(err, context.DeadlineExceeded) and ErrTimeout,
// its cancellation with one satisfying errors.Is(err, context.Canceled) and
// ErrInterrupted, also when ctx is done before the load starts; host
// functions the start function calls receive ctx. opts (WithModuleWASI)
// configure this load only. Safe for concurrent use.
func (h *Host) LoadModule(ctx context.Context, name string, wasmBytes []byte, opts ...LoadOption) (*Module, error) {
	return h.load(ctx, fmt.Sprintf("load module %q", name), name, wasmBytes, nil, opts)
}

// load is LoadModule and CompiledModule.Instantiate (compiled non-nil; the
// caller keeps it alive): one path that differs only in the C call,
// sbx_load_module_with or sbx_compiled_instantiate.
func (h *Host) load(ctx context.Context, op, name string, wasmBytes []byte, compiled *compiledModule,
	opts []LoadOption) (*Module, error) {
	if strings.TrimSpace(name) == "" || !utf8.ValidString(name) {
		return nil, &Error{
			Op:   op,
			Msg:  "the name must be UTF-8, not empty and not only whitespace",
			kind: ErrInvalidName,
		}
	}
	var lc loadConfig
	for _, opt := range opts {
		if opt != nil {
			opt(&lc)
		}
	}
	if lc.err != nil {
		return nil, &Error{Op: op, Msg: lc.err.Error(), kind: ErrInvalidOption}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	done := ctx.Done()
	if done != nil {
		if err := ctx.Err(); err != nil {
			return nil, ctxError(op, "the load did not start", ctx, err)
		}
	}

	options := C.sbx_load_options_new()
	if options == nil {
		return nil, &Error{Op: op, Msg: "cannot allocate load options", kind: ErrInternal}
	}
	defer C.sbx_load_options_free(options)
	if lc.wasi != nil {
		wc, err := lc.wasi.build() // reads Stdin, which may block: before the deadline is computed
		if err != nil {
			return nil, &Error{Op: op, Msg: "WithModuleWASI: " + err.Error(), kind: ErrInvalidOption}
		}
		C.sbx_load_options_wasi(options, wc) // copies it
		C.sbx_wasi_config_free(wc)
	}
	timeoutNs := timeoutNone
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, ctxError(op, "the load did not start", ctx, context.DeadlineExceeded)
		}
		timeoutNs = uint64(left)
	}
	C.sbx_load_options_timeout_ns(options, C.uint64_t(timeoutNs))
	if lc.reset != C.SBX_RESET_POLICY_NEVER {
		C.sbx_load_options_set_reset_policy(options, lc.reset)
	}

	if h.closeStarted() {
		return nil, closedError(op, "host")
	}
	h.rw.RLock()
	defer h.rw.RUnlock()
	if h.ptr == nil {
		return nil, closedError(op, "host")
	}

	// Every load gets a cancel token, so that ctx and Close can both stop it.
	var tok *C.sbx_cancel
	if st := C.sbx_cancel_new(h.ptr, &tok); st != C.SBX_STATUS_OK {
		return nil, newError(op, cError{status: status(st), message: "cannot create a cancel token"}, nil, false)
	}
	m := newModule(h, name)
	if m.id == 0 {
		C.sbx_cancel_free(tok)
		return nil, &Error{Op: op, Msg: "too many modules in the process", kind: ErrInstanceLimit}
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		C.sbx_cancel_free(tok)
		m.unregister()
		return nil, closedError(op, "host")
	}
	h.loads[tok] = m
	h.mu.Unlock()
	C.sbx_load_options_cancel(options, tok)
	C.sbx_load_options_user_data(options, C.uint64_t(m.id))

	var stop func() bool
	var fired chan struct{}
	if done != nil {
		fired = make(chan struct{}, 1)
		stop = context.AfterFunc(ctx, func() {
			C.sbx_cancel_trigger(tok)
			fired <- struct{}{}
		})
	}
	var mod *C.sbx_module
	var cerr *C.sbx_error
	m.callCtx = ctx
	var st C.sbx_status
	if compiled != nil {
		m.funcs = compiled.funcs // immutable: attach need not read them again
		st = C.sbx_compiled_instantiate(compiled.ptr, (*C.char)(unsafe.Pointer(unsafe.StringData(name))),
			C.size_t(len(name)), options, &mod, &cerr)
	} else {
		st = C.sbx_load_module_with(h.ptr, stringPtr(name), C.size_t(len(name)),
			bytesPtr(wasmBytes), C.size_t(len(wasmBytes)), options, &mod, &cerr)
	}
	var hostErr error // read before hostCtx ends
	if st == C.SBX_STATUS_HOST_ERROR && m.hostErr != nil {
		hostErr = m.hostError(op)
	}
	if m.hostCtx != nil {
		m.endHostContext()
	}
	m.callCtx, m.hostErr = nil, nil
	if stop != nil && !stop() {
		<-fired // the trigger ran or is running: let it finish before the free
	}
	h.mu.Lock()
	delete(h.loads, tok)
	closed := h.closed
	h.mu.Unlock()
	C.sbx_cancel_free(tok)
	if st != C.SBX_STATUS_OK {
		m.unregister()
		ce := takeError(st, cerr)
		if hostErr != nil {
			return nil, hostErr
		}
		return nil, newError(op, ce, ctx, closed || m.closed.Load())
	}

	if err := m.attach(mod); err != nil {
		m.unregister()
		return nil, err
	}
	h.mu.Lock()
	if h.closed || m.closeDeferred {
		// Closed meanwhile, by Host.Close or by a host function of the start function.
		h.mu.Unlock()
		m.closed.Store(true)
		m.closeOnce.Do(func() {})
		m.lk.lock()
		m.release()
		m.lk.unlock()
		return nil, closedError(op, "module")
	}
	h.modules[m] = struct{}{}
	h.mu.Unlock()
	return m, nil
}

// Close stops and closes every module the host loaded, interrupting calls
// and loads in flight, then frees the host. Afterwards every method of the
// host and its modules returns ErrClosed. Closing twice is a no-op.
//
// Close must not be called from a host function: there it returns
// ErrInvalidArgument and closes nothing.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	for _, m := range h.loads {
		if m.reentrant() {
			h.mu.Unlock()
			return m.reentryError("close host")
		}
	}
	for m := range h.modules {
		if m.reentrant() {
			h.mu.Unlock()
			return m.reentryError("close host")
		}
	}
	h.closed = true
	for tok, m := range h.loads {
		C.sbx_cancel_trigger(tok)
		m.closeNow() // ends the ctx of host functions the start function runs
	}
	h.mt.interruptCompiles()
	h.mu.Unlock()

	h.rw.Lock() // waits for the loads in flight to return
	defer h.rw.Unlock()
	h.mu.Lock()
	modules := make([]*Module, 0, len(h.modules))
	for m := range h.modules {
		modules = append(modules, m)
	}
	h.mu.Unlock()
	for _, m := range modules {
		m.Close(context.Background())
	}
	h.closeTenancy() // pools and compiled modules; keeps the last stats
	h.cleanup.Stop()
	C.sbx_close(h.ptr)
	h.ptr = nil
	return nil
}

// closeStarted says whether Close has started: it holds rw until it is done
// (waiting for the calls in flight), so a method that would take rw
// returns ErrClosed at once instead of waiting.
func (h *Host) closeStarted() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// forget drops a closed module from the host's set.
func (h *Host) forget(m *Module) {
	h.mu.Lock()
	delete(h.modules, m)
	h.mu.Unlock()
}
