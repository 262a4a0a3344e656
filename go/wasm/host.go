package wasm

// #include "sbx_go.h"
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

	// closing is set with closed, for closeStarted to read without mu.
	closing atomic.Bool

	// mu guards the fields below.
	mu     sync.Mutex
	closed bool
	places places       // loads in flight and open modules
	spare  *spareSlots  // slots of closed modules, for later loads
	open   *openModules // the handles and slots of the open modules, by place
	mt     tenancy      // compiled modules, compiles, pools, budget (compiled.go)

	cleanup runtime.Cleanup
}

// NewHost creates a host. With no options it has no execution timeout, no
// fuel metering, 256 MiB of memory per module and at most 1,000 modules.
func NewHost(opts ...Option) (*Host, error) {
	h := &Host{
		spare: &spareSlots{},
		open:  &openModules{},
	}
	for _, opt := range opts {
		if opt != nil {
			opt(h)
		}
	}
	if h.cfg.err != nil {
		return nil, h.cfg.err
	}
	h.cfg.execNs = timeoutNone
	if h.cfg.execTimeout > 0 {
		h.cfg.execNs = uint64(h.cfg.execTimeout)
	}

	cfg := C.sbx_config_new()
	if cfg == nil {
		return nil, &Error{Op: "NewHost", Msg: "cannot allocate a config", kind: ErrInternal}
	}
	defer C.sbx_config_free(cfg)
	c := &h.cfg
	// The setters are status-only and fail only for what Go never passes
	// (a NULL config, a non-UTF-8 cache dir); sbx_config_validate then says
	// what is wrong with the values.
	set := func(option string, st C.sbx_status) {
		if st != C.SBX_STATUS_OK {
			c.fail("%s: refused by the library (%s)", option, statusName(status(st)))
		}
	}
	if c.fuel != 0 {
		set("WithFuelLimit", C.sbx_config_set_fuel(cfg, C.uint64_t(c.fuel)))
	}
	if c.memory.set {
		set("WithMemoryLimit", C.sbx_config_set_memory_limit(cfg, C.uint64_t(c.memory.v)))
	}
	if c.tableElems.set {
		set("WithTableElementsLimit", C.sbx_config_set_table_elements_limit(cfg, C.uint64_t(c.tableElems.v)))
	}
	if c.wasmStack.set {
		set("WithMaxWasmStack", C.sbx_config_set_max_wasm_stack(cfg, C.uint64_t(c.wasmStack.v)))
	}
	if c.maxModules.set {
		set("WithMaxModules", C.sbx_config_set_max_modules(cfg, C.uint32_t(c.maxModules.v)))
	}
	if c.maxAbandon.set {
		set("WithMaxAbandonedCompiles", C.sbx_config_set_max_abandoned_compiles(cfg, C.uint32_t(c.maxAbandon.v)))
	}
	if h.mt.memoryLimit != 0 {
		set("WithHostMemoryLimit", C.sbx_config_set_host_memory_limit(cfg, C.uint64_t(h.mt.memoryLimit)))
	}
	set("WithPooling", C.sbx_config_set_pooling(cfg, C.bool(c.pooling)))
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
	if st := C.sbx_config_validate(cfg, &cerr); st != C.SBX_STATUS_OK {
		return nil, optionError("NewHost", "", takeError(st, cerr))
	}

	if st := C.sbx_host_new(cfg, &h.ptr, &cerr); st != C.SBX_STATUS_OK {
		return nil, newError("NewHost", takeError(st, cerr), nil, false)
	}
	// A backstop only: a Host that is dropped without Close is freed by the
	// garbage collector, with its modules. They reference the Host, so it is
	// unreachable only once they all are: one cleanup per Host, rather than
	// one per Module, frees them all (a module needs no cleanup of its own:
	// the Host's set keeps it while the Host lives).
	h.cleanup = runtime.AddCleanup(h, func(a hostHandles) {
		a.open.free()
		a.spare.free()
		C.sbx_close(a.ptr)
	}, hostHandles{h.ptr, h.spare, h.open})
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
	const verb = "load module"
	if err := checkModuleName(verb, name); err != nil {
		return nil, err
	}
	return h.load(ctx, verb, name, wasmBytes, nil, opts)
}

// checkModuleName refuses a name that is not UTF-8, is empty or is only
// whitespace, with ErrInvalidName; verb starts the op (loadOp).
func checkModuleName(verb, name string) error {
	if strings.TrimSpace(name) == "" || !utf8.ValidString(name) {
		return &Error{
			Op:   loadOp(verb, name),
			Msg:  "the name must be UTF-8, not empty and not only whitespace",
			kind: ErrInvalidName,
		}
	}
	return nil
}

// loadOp is the op of a load's errors, e.g. `load module "name"`: built
// only on failure, since a successful load must not pay for it.
func loadOp(verb, name string) string { return verb + " " + strconv.Quote(name) }

// loadConfigOf applies opts; without any it allocates nothing.
func loadConfigOf(opts []LoadOption) loadConfig {
	if len(opts) == 0 {
		return loadConfig{}
	}
	lc := new(loadConfig)
	for _, opt := range opts {
		if opt != nil {
			opt(lc)
		}
	}
	return *lc
}

// load is LoadModule and CompiledModule.Instantiate (compiled non-nil; the
// caller keeps it alive): one path that differs only in the C call,
// sbx_load_module_with or sbx_compiled_instantiate. verb starts the op of
// its errors (loadOp); the caller has checked name (checkModuleName).
func (h *Host) load(ctx context.Context, verb, name string, wasmBytes []byte, compiled *compiledModule,
	opts []LoadOption) (*Module, error) {
	lc := loadConfigOf(opts)
	if ctx == nil {
		ctx = context.Background()
	}
	done := ctx.Done()
	if done != nil {
		if err := ctx.Err(); err != nil {
			return nil, ctxError(loadOp(verb, name), "the load did not start", ctx, err)
		}
	}

	var wc *C.sbx_wasi_config
	if lc.wasi != nil {
		var err error
		wc, err = lc.wasi.build() // reads Stdin, which may block: before the deadline is computed
		if err != nil {
			return nil, &Error{Op: loadOp(verb, name), Msg: "WithModuleWASI: " + err.Error(), kind: ErrInvalidOption}
		}
		defer C.sbx_wasi_config_free(wc) // the load options copy it
	}
	timeoutNs := timeoutNone
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, ctxError(loadOp(verb, name), "the load did not start", ctx, context.DeadlineExceeded)
		}
		timeoutNs = uint64(left)
	}

	if h.closeStarted() {
		return nil, closedError(loadOp(verb, name), "host")
	}
	return h.loadLocked(ctx, verb, name, wasmBytes, compiled, lc, wc, timeoutNs)
}

// loadLocked is the rest of load, under h.rw. Apart so that each of the
// two has few enough returns for Go to open-code its defer: together they
// had too many, and runtime.deferreturn showed up in Instantiate profiles.
func (h *Host) loadLocked(ctx context.Context, verb, name string, wasmBytes []byte, compiled *compiledModule,
	lc loadConfig, wc *C.sbx_wasi_config, timeoutNs uint64) (*Module, error) {
	h.rw.RLock()
	defer h.rw.RUnlock()
	if h.ptr == nil {
		return nil, closedError(loadOp(verb, name), "host")
	}
	done := ctx.Done()

	// Every load gets a cancel token, so that ctx and Close can both stop
	// it; it comes with the module's slot and is then the module's token.
	m := newModule(h, name)
	slot, err := h.takeSlot(m)
	if err != nil {
		return nil, err(loadOp(verb, name))
	}
	m.id = uint64(slot.module_id)
	tok := slot.cancel

	var stop func() bool
	var fired chan struct{}
	if done != nil {
		fired = make(chan struct{}, 1)
		stop = context.AfterFunc(ctx, func() {
			C.sbx_cancel_trigger(tok)
			fired <- struct{}{}
		})
	}
	m.callCtx, m.loadTok = ctx, tok
	var compiledAddr C.uintptr_t
	memory := int32(memoryUnknown)
	if compiled != nil {
		m.funcs = compiled.funcs // immutable: attach need not read them again
		compiledAddr = cAddr(unsafe.Pointer(compiled.ptr))
		memory = compiled.memory.Load()
	}
	m.enterGuest() // the start function may call host functions
	r := C.sbx_go_load(cAddr(unsafe.Pointer(h.ptr)), compiledAddr, stringPtr(name), C.size_t(len(name)),
		bytesPtr(wasmBytes), C.size_t(len(wasmBytes)), cAddr(unsafe.Pointer(wc)), C.uint64_t(timeoutNs),
		lc.reset, cAddr(unsafe.Pointer(slot)), memory == memoryUnknown)
	m.leaveGuest()
	if memory == memoryUnknown {
		// A module closed meanwhile says neither: ask again next time.
		switch r.memory_status {
		case C.SBX_STATUS_OK:
			memory = memoryExported
		case C.SBX_STATUS_EXPORT_NOT_FOUND:
			memory = memoryNone
		}
		if compiled != nil && memory != memoryUnknown {
			compiled.memory.Store(memory)
		}
	}
	st := r.status
	var hostErr error // read before the host functions' ctx ends
	if st == C.SBX_STATUS_HOST_ERROR && m.hostFailed() {
		hostErr = m.hostError(loadOp(verb, name))
	}
	m.endHostCalls()
	m.callCtx, m.loadTok = nil, nil
	triggered := m.tokTriggered
	if stop != nil && !stop() {
		<-fired // the trigger ran or is running: let it finish before the reuse
		triggered = true
	}
	if st != C.SBX_STATUS_OK {
		h.mu.Lock()
		h.leavePlace(m)
		closed := h.closed
		h.mu.Unlock()
		m.id = 0
		h.putSlot(slot, !triggered)
		ce := takeError(st, r.error)
		if hostErr != nil {
			return nil, hostErr
		}
		return nil, newError(loadOp(verb, name), ce, ctx, closed || m.closed.Load())
	}

	if triggered && !m.tokTriggered {
		// ctx ended as the load returned: calls must not see it. Not a
		// load in flight first, so that Host.Close cannot trigger it meanwhile.
		h.mu.Lock()
		h.places.at(m).loadTok = nil
		h.mu.Unlock()
		C.sbx_cancel_reset(tok)
	}
	m.attach(r.module, slot, memory == memoryExported)
	h.mu.Lock()
	p := h.places.at(m) // one lock for both: Host.Close sees the load or the module
	p.loadTok = nil
	if h.closed || m.closeDeferred {
		// Closed meanwhile, by Host.Close or by a host function of the start function.
		h.mu.Unlock()
		m.closed.Store(true)
		m.closeDone.close()
		m.lk.lock()
		m.release()
		m.lk.unlock()
		return nil, closedError(loadOp(verb, name), "module")
	}
	p.open = true
	h.open.set(m.place, openModule{r.module, slot})
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
	for _, p := range h.places.s {
		if p.m != nil && p.m.reentrant() {
			h.mu.Unlock()
			return p.m.reentryError("close host")
		}
	}
	h.closed = true
	h.closing.Store(true)
	for _, p := range h.places.s {
		if p.loadTok != nil {
			C.sbx_cancel_trigger(p.loadTok)
			p.m.closeNow() // ends the ctx of host functions the start function runs
		}
	}
	h.mt.interruptCompiles()
	h.mu.Unlock()

	h.rw.Lock() // waits for the loads in flight to return
	defer h.rw.Unlock()
	h.mu.Lock()
	var modules []*Module
	for _, p := range h.places.s {
		if p.open {
			modules = append(modules, p.m)
		}
	}
	h.mu.Unlock()
	for _, m := range modules {
		m.Close(context.Background())
	}
	h.closeTenancy() // pools and compiled modules; keeps the last stats
	h.mu.Lock()
	h.spare.free()
	h.mu.Unlock()
	h.cleanup.Stop()
	C.sbx_close(h.ptr)
	h.ptr = nil
	return nil
}

// closeStarted says whether Close has started: it holds rw until it is done
// (waiting for the calls in flight), so a method that would take rw
// returns ErrClosed at once instead of waiting.
func (h *Host) closeStarted() bool {
	return h.closing.Load()
}

// forget drops a closed module from the host's set, keeping its slot for
// a later load if its token is clean (or else freeing it).
func (h *Host) forget(m *Module, slot *C.sbx_go_slot, clean bool) {
	h.mu.Lock()
	h.leavePlace(m)
	if slot != nil && clean && !h.closed && len(h.spare.s) < maxSpareSlots {
		h.spare.s = append(h.spare.s, slot)
		slot = nil
	}
	h.mu.Unlock()
	freeSlot(slot)
}

// spareSlots are the slots (call frame and cancel token, sbx_go.h) of
// closed modules, clean, for later loads: a load then allocates none and
// makes no token. Guarded by Host.mu.
type spareSlots struct{ s []*C.sbx_go_slot }

// places are a host's loads in flight and open modules, by index: a
// module takes its place when its load starts and leaves it when it
// closes. Guarded by Host.mu.
type places struct {
	s   []place
	idx indexes
}

type place struct {
	m *Module
	// loadTok is the token of m's load while Host.Close may trigger it.
	loadTok *C.sbx_cancel
	// open says m is loaded and not closed.
	open bool
}

// at is m's place; m has one.
func (ps *places) at(m *Module) *place { return &ps.s[m.place-1] }

// enterPlace gives m a place, its load in flight with token tok; false if
// there is none left. h.mu is held.
func (h *Host) enterPlace(m *Module, tok *C.sbx_cancel) bool {
	i, ok := h.places.idx.take()
	if !ok {
		return false
	}
	if i == uint64(len(h.places.s)) {
		h.places.s = append(h.places.s, place{})
	}
	h.places.s[i] = place{m: m, loadTok: tok}
	m.place = i + 1
	return true
}

// leavePlace frees m's place, if it has one; h.mu is held.
func (h *Host) leavePlace(m *Module) {
	if m.place == 0 {
		return
	}
	i := m.place - 1
	h.places.s[i] = place{}
	h.open.set(m.place, openModule{})
	h.places.idx.give(i)
	m.place = 0
}

// openModules are the handles and slots of a host's open modules, by
// place (the backstop cleanup frees them, so they hold no *Module).
// Guarded by Host.mu.
type openModules struct {
	s []openModule
}

type openModule struct {
	ptr  *C.sbx_module
	slot *C.sbx_go_slot
}

// set records the module at place (numbered from 1).
func (o *openModules) set(place uint64, mod openModule) {
	for uint64(len(o.s)) < place {
		o.s = append(o.s, openModule{})
	}
	o.s[place-1] = mod
}

func (o *openModules) free() {
	for _, mod := range o.s {
		if mod.ptr != nil {
			C.sbx_module_free(mod.ptr)
			freeSlot(mod.slot)
		}
	}
	o.s = nil
}

// hostHandles is what a Host's backstop cleanup frees.
type hostHandles struct {
	ptr   *C.sbx_host
	spare *spareSlots
	open  *openModules
}

func (sp *spareSlots) free() {
	for _, s := range sp.s {
		freeSlot(s)
	}
	sp.s = nil
}

// maxSpareSlots bounds the slots a host keeps for later loads.
const maxSpareSlots = 64

// takeSlot is a spare slot or a new one for the load of m, which it gives
// its place (under the same lock, when there is a spare); h.rw is held. Its error takes the op, built only on failure.
func (h *Host) takeSlot(m *Module) (*C.sbx_go_slot, func(op string) error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, func(op string) error { return closedError(op, "host") }
	}
	if sp := h.spare; len(sp.s) > 0 {
		s := sp.s[len(sp.s)-1]
		if !h.enterPlace(m, s.cancel) {
			h.mu.Unlock()
			return nil, tooManyModules
		}
		sp.s = sp.s[:len(sp.s)-1]
		h.mu.Unlock()
		return s, nil
	}
	h.mu.Unlock()
	id := modules.take()
	if id == 0 {
		return nil, func(op string) error {
			return &Error{Op: op, Msg: "too many modules in the process", kind: ErrInstanceLimit}
		}
	}
	var st C.sbx_status
	s := C.sbx_go_slot_new(cAddr(unsafe.Pointer(h.ptr)), C.uint64_t(id), &st)
	if s == nil {
		modules.release(id)
		if st != C.SBX_STATUS_OK {
			return nil, func(op string) error {
				return newError(op, cError{status: status(st), message: "cannot create a cancel token"}, nil, false)
			}
		}
		return nil, func(op string) error {
			return &Error{Op: op, Msg: "cannot allocate a call frame", kind: ErrInternal}
		}
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		freeSlot(s)
		return nil, func(op string) error { return closedError(op, "host") }
	}
	if !h.enterPlace(m, s.cancel) {
		h.mu.Unlock()
		freeSlot(s)
		return nil, tooManyModules
	}
	h.mu.Unlock()
	return s, nil
}

func tooManyModules(op string) error {
	return &Error{Op: op, Msg: "too many modules in the host", kind: ErrInstanceLimit}
}

// putSlot keeps a slot nothing uses any more for a later load, unless its
// token may be triggered (not clean), the host is closed, or it has
// enough spares: then it frees it.
func (h *Host) putSlot(s *C.sbx_go_slot, clean bool) {
	h.mu.Lock()
	if clean && !h.closed && len(h.spare.s) < maxSpareSlots {
		h.spare.s = append(h.spare.s, s)
		s = nil
	}
	h.mu.Unlock()
	freeSlot(s)
}

// freeSlot gives back the slot's module id and frees it; nil is a no-op.
func freeSlot(s *C.sbx_go_slot) {
	if s == nil {
		return
	}
	modules.release(uint64(s.module_id))
	C.sbx_go_slot_free(cAddr(unsafe.Pointer(s)))
}
