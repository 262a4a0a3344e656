package wasm

// #include "sbx_go.h"
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// Module is a loaded module: its own memory, globals and instance. It is
// safe for concurrent use; calls on one module run one at a time, calls on
// different modules in parallel.
type Module struct {
	name      string
	host      *Host
	id        uint64     // its slot's id in the registry, for host functions; 0 once released
	place     uint64     // its place in host.places, from 1; 0 for none (guarded by host.mu)
	funcs     []Function // immutable after load
	hasMemory bool       // immutable after load
	mem       Memory     // the view Memory returns

	// lk is held by every call, for its whole length (the library runs one
	// call per module at a time anyway), and by Close while it frees the
	// handles. It guards the fields below.
	lk    callLock
	ptr   *C.sbx_module
	slot  *C.sbx_go_slot  // frame and tok; from the host's spares
	tok   *C.sbx_cancel   // triggered when the context of the call in flight ends
	frame *C.sbx_go_frame // in slot

	// tokTriggered says tok was triggered and not reset (by a Close from a
	// host function of the start function), so the slot is not reused.
	tokTriggered bool

	// loadTok is the token of the load in flight (nil otherwise): a Close
	// from a host function of the start function triggers it, since there
	// is no library module to close yet. Used only by the loading goroutine.
	loadTok *C.sbx_cancel

	// The state of the call (or load) in flight, used by its goroutine and
	// by the host functions it runs, which run on that same goroutine.
	callCtx       context.Context
	callTimeoutNs uint64 // the timeout the call passed to the library
	closeDeferred bool   // Close was called from a host function

	// hostCalls is what host functions use, made by the first one to run;
	// set once, and read by closeNow from any goroutine.
	hostCalls atomic.Pointer[hostCallState]

	// inHost is the thread running a host function of this module, or 0:
	// a goroutine in a cgo callback stays on its thread, so a method seeing
	// its own thread there is called from inside the module's own call.
	inHost atomic.Uintptr

	stats statsHandle // what Stats reads, without m.lk (stats.go)

	closed atomic.Bool
	// closeDone ends when the Close that set closed (or a failed reset's
	// close) has finished: a concurrent Close waits for it.
	closeDone closeSignal
	// closing ends when Close starts (or Host.Close, during the load): it
	// wakes the callers waiting for the module. Then closeNow cancels the
	// ctx of the host functions running, if any.
	closing closeSignal

	// Made by the first call or reset whose ctx can end (triggerFunc).
	trigger func()        // triggers tok, then signals fired
	fired   chan struct{} // one slot: the trigger has finished
}

// closeSignal is a channel closed once, made only if someone waits on it:
// most modules close without a caller ever waiting for them. Lock-free:
// ch is nil, the waiters' channel, or closedSignal once closed.
type closeSignal struct {
	ch atomic.Pointer[chan struct{}]
}

// closedSignal is every closeSignal's channel once closed.
var closedSignal = func() *chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return &ch
}()

// Done is closed once close has run.
func (c *closeSignal) Done() <-chan struct{} {
	if p := c.ch.Load(); p != nil {
		return *p
	}
	ch := make(chan struct{})
	if c.ch.CompareAndSwap(nil, &ch) {
		return ch
	}
	return *c.ch.Load() // another Done, or close, came first
}

// closed says whether close has run.
func (c *closeSignal) closed() bool {
	return c.ch.Load() == closedSignal
}

// close closes Done; idempotent.
func (c *closeSignal) close() {
	if p := c.ch.Swap(closedSignal); p != nil && p != closedSignal {
		close(*p)
	}
}

// newModule makes the Go side of a module about to be loaded; its registry
// id, by which its host functions find it, comes with its slot.
func newModule(h *Host, name string) *Module {
	m := &Module{name: name, host: h}
	m.mem = Memory{m: m}
	return m
}

// attach gives m the module the library loaded, with the slot of its load.
func (m *Module) attach(mod *C.sbx_module, slot *C.sbx_go_slot, hasMemory bool) {
	m.ptr, m.slot, m.tok, m.frame = mod, slot, slot.cancel, &slot.frame
	m.hasMemory = hasMemory
	if m.funcs == nil {
		m.funcs = exportedFunctions(mod)
	}
	m.stats.attach(mod)
}

// triggerFunc is the AfterFunc of a call or reset whose ctx can end: it
// triggers tok, then signals fired. Made at the first; m.lk is held.
func (m *Module) triggerFunc() func() {
	if m.trigger == nil {
		tok, fired := m.tok, make(chan struct{}, 1)
		m.fired = fired
		m.trigger = func() {
			// A ctx that ended at its deadline needs no trigger: the library
			// has that deadline too and stops the call as a timeout (counted
			// as one in Stats); a trigger would race it and count an interrupt.
			if !deadlinePassed(m.callCtx) {
				C.sbx_cancel_trigger(tok)
			}
			fired <- struct{}{}
		}
	}
	return m.trigger
}

// reentrant says whether the calling goroutine runs inside a host function
// of this module's own call (and so holds its call).
func (m *Module) reentrant() bool {
	t := m.inHost.Load()
	return t != 0 && t == callerThread()
}

// reentryError is the error of a method that cannot run from inside a host
// function of the module's own call.
func (m *Module) reentryError(op string) error {
	return &Error{Op: op, Msg: "called from a host function of the module's own call (use its Caller)", kind: ErrInvalidArgument}
}

// exportedFunctions reads the export list once, at load.
func exportedFunctions(mod *C.sbx_module) []Function {
	var count C.size_t
	if C.sbx_module_function_count(mod, &count) != C.SBX_STATUS_OK {
		return nil
	}
	funcs := make([]Function, 0, int(count))
	for i := C.size_t(0); i < count; i++ {
		var info C.sbx_function_info
		if C.sbx_module_function_at(mod, i, &info) != C.SBX_STATUS_OK {
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

func valueTypes(p *C.uint8_t, n C.size_t) []ValueType {
	if n == 0 {
		return nil
	}
	types := make([]ValueType, n)
	for i, t := range unsafe.Slice((*uint8)(unsafe.Pointer(p)), int(n)) {
		types[i] = ValueType(t)
	}
	return types
}

// Name is the name the module was loaded under.
func (m *Module) Name() string { return m.name }

// ExportedFunctions describes the module's exported functions, in export
// order: name, param and result types (Function.String gives the
// signature, e.g. "add(i32, i32) -> i32"). It works on a closed module too.
func (m *Module) ExportedFunctions() []Function {
	out := make([]Function, len(m.funcs))
	for i, f := range m.funcs {
		out[i] = Function{
			Name:    f.Name,
			Params:  append([]ValueType(nil), f.Params...),
			Results: append([]ValueType(nil), f.Results...),
		}
	}
	return out
}

// function is the export called name, if there is one.
func (m *Module) function(name string) (Function, bool) {
	for _, f := range m.funcs {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// lock takes the module's lock for a method without a ctx: it waits for the
// call in flight, but gives up (false) when the module is closed meanwhile.
func (m *Module) lock() bool {
	return m.lk.tryLock() || m.lk.lockSlow(nil, m.closing.Done())
}

// waitLock takes the module's lock for a call after tryLock failed: it waits
// for the call in flight, but gives up when ctx ends (ctxError) or the
// module is closed meanwhile (ErrClosed).
func (m *Module) waitLock(ctx context.Context, fnName string) error {
	if m.lk.lockSlow(ctx.Done(), m.closing.Done()) {
		return nil
	}
	if m.closed.Load() {
		return closedError(m.callOp(fnName), "module")
	}
	return ctxError(m.callOp(fnName), "gave up waiting for the call in flight", ctx, ctx.Err())
}

// FuelConsumed is the fuel the last call (or the start function) used; 0
// when fuel metering (WithFuelLimit) is off. It waits for a call in flight
// to finish, unless the module is closed meanwhile (ErrClosed).
func (m *Module) FuelConsumed() (uint64, error) {
	if m.reentrant() {
		return 0, m.reentryError(m.op("fuel of"))
	}
	if !m.lock() {
		return 0, closedError(m.op("fuel of"), "module")
	}
	defer m.lk.unlock()
	if m.ptr == nil {
		return 0, closedError(m.op("fuel of"), "module")
	}
	var fuel C.uint64_t
	if st := C.sbx_module_last_call_fuel(m.ptr, &fuel); st != C.SBX_STATUS_OK {
		return 0, newError(m.op("fuel of"), cError{status: status(st), message: statusName(status(st))}, nil, m.closed.Load())
	}
	return uint64(fuel), nil
}

// Close interrupts the call in flight, if any, waits for it to return, and
// frees the module, its memory and its slot in the host. Afterwards its
// methods return ErrClosed. Callers waiting for the module (CallWithTimeout,
// FuelConsumed, Memory accesses) return at once, with ErrClosed (or a
// Memory failure), and the ctx of the host function running, if any, is
// cancelled (its cause is ErrClosed). Closing twice is a no-op. ctx is not
// used; it is there for compatibility with wazero: Close waits for the call
// in flight however long a host function takes to return.
//
// From a host function of the module's own call, Close stops that call and
// returns at once; the module is freed as the call returns.
func (m *Module) Close(ctx context.Context) error {
	if !m.closed.CompareAndSwap(false, true) {
		<-m.closeDone.Done() // the first Close may still be freeing
		return nil
	}
	defer m.closeDone.close()
	m.closeNow()
	if m.reentrant() {
		// This goroutine runs the call (or the load): it frees the
		// module once the library returns.
		if m.ptr == nil && m.loadTok != nil {
			C.sbx_cancel_trigger(m.loadTok) // stops the start function
			m.tokTriggered = true
		}
		C.sbx_module_close(m.ptr) // interrupts the call; NULL during a load
		m.closeDeferred = true
		return nil
	}
	if !m.lk.tryLock() {
		// A call is in flight (freeing the module would do the same
		// when none is: sbx_module_free closes it).
		C.sbx_module_close(m.ptr) // interrupts and waits for the running call
		m.lk.lock()               // waits for the Go caller still inside
	}
	m.release()
	m.lk.unlock()
	return nil
}

// release frees the handles of a closed module; m.lk is held (or m is
// still being loaded, by this goroutine).
func (m *Module) release() {
	slot := m.slot
	if m.ptr != nil {
		// Stats reads ptr without m.lk: it is freed under the stats lock,
		// which keeps the last counters.
		m.stats.release(m.ptr)
		m.ptr, m.slot, m.tok, m.frame = nil, nil, nil, nil
	}
	m.closeDeferred = false
	m.id = 0 // the slot's: the next module to take the slot uses it
	m.host.forget(m, slot, !m.tokTriggered)
}

// CallWithTimeout calls the exported function fnName with params encoded as
// uint64 (see EncodeI32 and friends) and returns its results, encoded the
// same way.
//
// The call stops at the earlier of ctx's deadline and the host's ExecTimeout
// with an error satisfying errors.Is(err, context.DeadlineExceeded), and
// when ctx is cancelled with one satisfying errors.Is(err, context.Canceled);
// they also wrap ErrTimeout and ErrInterrupted. A ctx that is already done
// fails the same way without calling. A trap is a *TrapError. After any
// failure the module stays usable.
//
// A WASI program that exits with a non-zero code returns an *ExitError;
// exit code 0 returns no results and no error. A failing host function
// returns a *HostFunctionError.
//
// Calls on one module run one at a time. A call waiting for another one to
// finish gives up when its ctx ends, with an error wrapping ctx.Err() (and
// ErrTimeout for a deadline, ErrInterrupted otherwise), and when the module
// is closed, with ErrClosed; the ExecTimeout starts when the call does.
// From a host function of the module's own call it returns
// ErrInvalidArgument.
func (m *Module) CallWithTimeout(ctx context.Context, fnName string, params ...uint64) ([]uint64, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if m.reentrant() {
		return nil, m.reentryError(m.callOp(fnName))
	}
	done := ctx.Done()
	if done != nil {
		if err := ctx.Err(); err != nil {
			return nil, ctxError(m.callOp(fnName), "the call did not start", ctx, err)
		}
	}
	if !m.lk.tryLock() {
		if err := m.waitLock(ctx, fnName); err != nil {
			return nil, err
		}
	}
	defer m.lk.unlock()
	if m.ptr == nil {
		return nil, closedError(m.callOp(fnName), "module")
	}
	timeoutNs, ok := m.timeoutNs(ctx)
	if !ok {
		return nil, ctxError(m.callOp(fnName), "the call did not start", ctx, context.DeadlineExceeded)
	}
	m.callCtx, m.callTimeoutNs = ctx, timeoutNs
	var results []uint64
	var err error
	if done == nil {
		results, err = m.call(ctx, fnName, params, timeoutNs, nil)
	} else {
		// The context can end: the module's token is triggered when it does,
		// and reset after the call so that a late trigger cannot stop a later one.
		stop := context.AfterFunc(ctx, m.triggerFunc())
		results, err = m.call(ctx, fnName, params, timeoutNs, m.tok)
		if !stop() {
			<-m.fired // the trigger ran or is running: wait for it to finish
			C.sbx_cancel_reset(m.tok)
		}
	}
	m.endHostCalls()
	m.callCtx = nil
	if m.closeDeferred {
		m.release()
	}
	return results, err
}

// Run runs a WASI command: it calls its "_start" export. It returns nil when
// the program exits with code 0 (or returns from main), an *ExitError for
// any other code, and otherwise fails as CallWithTimeout does.
func (m *Module) Run(ctx context.Context) error {
	_, err := m.CallWithTimeout(ctx, "_start")
	return err
}

// timeoutNs is the call's relative timeout: the earlier of ctx's deadline
// and the host's ExecTimeout, or timeoutNone; false if the deadline has
// passed (perhaps before ctx noticed). It reads the clock only when ctx has
// a deadline.
func (m *Module) timeoutNs(ctx context.Context) (uint64, bool) {
	deadline, ok := ctx.Deadline()
	cfg := &m.host.cfg
	if !ok {
		return cfg.execNs, true
	}
	left := time.Until(deadline)
	if left <= 0 {
		return 0, false
	}
	if cfg.execTimeout > 0 && cfg.execTimeout < left {
		return cfg.execNs, true
	}
	return uint64(left), true
}

// call makes the one cgo crossing of a call, through the module's frame;
// m.lk is held. The result slice is its only allocation.
func (m *Module) call(ctx context.Context, fnName string, params []uint64, timeoutNs uint64, tok *C.sbx_cancel) ([]uint64, error) {
	if len(params) > maxInlineValues {
		return m.callLarge(ctx, fnName, params, timeoutNs, tok, -1)
	}
	frame := m.frame
	copy(unsafe.Slice((*uint64)(unsafe.Pointer(&frame.params[0])), maxInlineValues), params)
	m.enterGuest()
	st := C.sbx_go_call(cAddr(unsafe.Pointer(m.ptr)), stringPtr(fnName), C.size_t(len(fnName)),
		cAddr(unsafe.Pointer(frame)), C.size_t(len(params)), C.uint64_t(timeoutNs), cAddr(unsafe.Pointer(tok)))
	m.leaveGuest()
	runtime.KeepAlive(m) // keeps its Host, whose cleanup frees the handles passed as integers
	if st != C.SBX_STATUS_OK {
		cerr := takeError(st, frame.error)
		if st == C.SBX_STATUS_SIGNATURE_MISMATCH {
			// Perhaps only the results did not fit: the library checks that
			// before running the guest, so retrying runs it once.
			if f, ok := m.function(fnName); ok && len(f.Results) > maxInlineValues && len(f.Params) == len(params) {
				return m.callLarge(ctx, fnName, params, timeoutNs, tok, len(f.Results))
			}
		}
		return nil, m.callError(ctx, fnName, cerr)
	}
	n := int(frame.results_len)
	if n == 0 {
		return nil, nil
	}
	results := make([]uint64, n)
	copy(results, unsafe.Slice((*uint64)(unsafe.Pointer(&frame.results[0])), n))
	return results, nil
}

// callLarge is call for more params or results than the frame holds, with
// Go buffers; resultsCap < 0 means "as many as the export has".
func (m *Module) callLarge(ctx context.Context, fnName string, params []uint64, timeoutNs uint64, tok *C.sbx_cancel,
	resultsCap int) ([]uint64, error) {
	if resultsCap < 0 {
		resultsCap = maxInlineValues
		if f, ok := m.function(fnName); ok {
			resultsCap = max(resultsCap, len(f.Results))
		}
	}
	// Copies, so that the caller's params (often on its stack) do not escape.
	in := append([]uint64(nil), params...)
	results := make([]uint64, resultsCap+1) // +1: never empty, for the pointer
	var n C.size_t
	var cerr *C.sbx_error
	m.enterGuest()
	st := C.sbx_call_with_timeout(m.ptr, stringPtr(fnName), C.size_t(len(fnName)),
		(*C.uint64_t)(unsafe.SliceData(in)), C.size_t(len(in)),
		(*C.uint64_t)(unsafe.SliceData(results)), C.size_t(resultsCap), &n,
		C.uint64_t(timeoutNs), tok, &cerr)
	m.leaveGuest()
	runtime.KeepAlive(m)
	if st != C.SBX_STATUS_OK {
		return nil, m.callError(ctx, fnName, takeError(st, cerr))
	}
	if n == 0 {
		return nil, nil
	}
	return results[:n:n], nil
}

// callError is the error of a failed call; the op already names the call.
func (m *Module) callError(ctx context.Context, fnName string, ce cError) error {
	if ce.status == statusHostError && m.hostFailed() {
		return m.hostError(m.callOp(fnName))
	}
	ce.message = strings.TrimPrefix(ce.message, "call `"+fnName+"`: ")
	return newError(m.callOp(fnName), ce, ctx, m.closed.Load())
}

func (m *Module) callOp(fnName string) string {
	return fmt.Sprintf("call %q on module %q", fnName, m.name)
}

func (m *Module) op(what string) string {
	return fmt.Sprintf("%s module %q", what, m.name)
}
