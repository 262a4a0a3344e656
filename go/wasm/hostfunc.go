package wasm

// #include "sbx_go.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"
)

// HostFunction is a Go function a guest imports (Host.DefineFunction). It
// has wazero's GoModuleFunction shape: stack holds the params on entry,
// encoded as uint64 (see EncodeI32 and friends), and the function writes its
// results to stack[:len(results)]. stack has room for
// max(len(params), len(results)) values.
//
// ctx derives from the context of the CallWithTimeout (or LoadModule) the
// guest is running in, with its values, and ends when the call must stop:
// its Deadline is the call's (the earlier of the caller's deadline and the
// ExecTimeout, counted from the start of the call), and it is cancelled when
// the caller's ctx is, and when the module or its host is closed (then
// context.Cause(ctx) is ErrClosed). It also ends when the call returns.
//
// Go code cannot be pre-empted: while a host function runs, its guest waits
// and no deadline, cancellation or Close can stop it. A function that may
// block must watch ctx.Done() and return; if it returns the ctx's error (or
// one wrapping it), the call fails as if the guest had been stopped (with
// ErrTimeout or ErrInterrupted wrapping the context error, or ErrClosed),
// not with a *HostFunctionError. A function that ignores ctx stalls its
// call, and Close waits for it. caller gives the calling module and its
// memory. Neither caller nor stack may be kept after the function returns.
//
// Returning any other error aborts the guest's call, which then fails with a
// *HostFunctionError wrapping that error (errors.Is finds it). A panic is
// recovered and fails the call the same way, with the panic value. The
// function must not call runtime.Goexit (t.FailNow, t.Fatal, ...).
type HostFunction func(ctx context.Context, caller *Caller, stack []uint64) error

// Caller is the module calling a host function, valid only while that
// function runs and only on its goroutine (elsewhere its memory accesses
// fail).
//
// Inside a host function, use caller.Memory(): the module's call holds the
// module, so its other methods refuse (CallWithTimeout, FuelConsumed return
// ErrInvalidArgument) or wait for the call to finish (Close stops the call
// and completes when it returns). Module().Memory() works too, and is the
// same as caller.Memory() on this goroutine.
type Caller struct {
	m      *Module
	ptr    *C.sbx_caller // nil outside the host function
	thread uintptr       // the thread running it
	mem    Memory
}

// Module is the calling module. During LoadModule (a start function calling
// a host function) it is the module being loaded, not yet returned to the
// caller of LoadModule.
func (c *Caller) Module() *Module {
	if c == nil {
		return nil
	}
	return c.m
}

// Memory is the calling module's exported memory, read and written through
// the call in progress. It is never nil; without an exported memory, its
// methods fail.
func (c *Caller) Memory() *Memory {
	if c == nil {
		return nil
	}
	return &c.mem
}

// hostFunc is a defined host function, found by id from the C trampoline.
type hostFunc struct {
	name string // "module.name"
	fn   HostFunction
}

// DefineFunction defines the import moduleName.name for every module the
// host loads afterwards: a guest importing it with this signature calls fn.
// params and results may only use ValueTypeI32, I64, F32 and F64. Defining
// the same import twice is an error (ErrInvalidArgument). Safe for
// concurrent use, also while modules are loaded and called.
func (h *Host) DefineFunction(moduleName, name string, params, results []ValueType, fn HostFunction) error {
	op := fmt.Sprintf("define function %s.%s", moduleName, name)
	invalid := func(format string, args ...any) error {
		return &Error{Op: op, Msg: fmt.Sprintf(format, args...), kind: ErrInvalidArgument}
	}
	switch {
	case fn == nil:
		return invalid("the function is nil")
	case strings.TrimSpace(moduleName) == "" || strings.TrimSpace(name) == "":
		return invalid("the module and function names must not be empty")
	case !utf8.ValidString(moduleName) || !utf8.ValidString(name):
		return invalid("the names must be UTF-8")
	}
	for _, types := range [][]ValueType{params, results} {
		for _, t := range types {
			switch t {
			case ValueTypeI32, ValueTypeI64, ValueTypeF32, ValueTypeF64:
			default:
				return invalid("type %s cannot cross as uint64 (only i32, i64, f32, f64)", t)
			}
		}
	}

	if h.closeStarted() {
		return closedError(op, "host")
	}
	h.rw.RLock()
	defer h.rw.RUnlock()
	if h.ptr == nil {
		return closedError(op, "host")
	}
	id := hostFuncs.add(&hostFunc{name: moduleName + "." + name, fn: fn})
	if id == 0 {
		return &Error{Op: op, Msg: "too many host functions", kind: ErrInstanceLimit}
	}
	p := typeBytes(params)
	r := typeBytes(results)
	var cerr *C.sbx_error
	// On failure the library calls the free callback, which drops the entry.
	st := C.sbx_go_define_func(h.ptr, stringPtr(moduleName), C.size_t(len(moduleName)), stringPtr(name), C.size_t(len(name)),
		bytesPtr(p), C.size_t(len(p)), bytesPtr(r), C.size_t(len(r)), C.uintptr_t(id), &cerr)
	if st != C.SBX_STATUS_OK {
		return newError(op, takeError(st, cerr), nil, false)
	}
	return nil
}

func typeBytes(types []ValueType) []byte {
	b := make([]byte, len(types)+1) // +1: never empty, so never a NULL pointer
	for i, t := range types {
		b[i] = byte(t)
	}
	return b[:len(types)]
}

// invokeHostFunc runs host function fid for module mid; false fails the
// guest's call (with the message set on the caller).
func invokeHostFunc(fid uint64, mid uint64, thread uintptr, cptr *C.sbx_caller, raw []uint64) bool {
	hf := hostFuncs.get(fid)
	m := lookupModule(mid)
	if hf == nil || m == nil {
		setCallerError(cptr, "the Go host function or module is gone")
		return false
	}
	return m.invoke(hf, thread, cptr, raw)
}

// hostCallState is what the host functions of a module's calls use. The
// first one to run makes it: most modules never run one (a fresh instance
// per request, say), and without it a Module fits a smaller size class.
type hostCallState struct {
	// Used only by the goroutine of the call in flight.
	ctx       context.Context    // what host functions get; made by the first one
	stopTimer context.CancelFunc // nil unless ctx has a deadline of its own
	err       *HostFunctionError // the first host function failure of the call
	caller    Caller             // given to host functions
	stack     []uint64           // host functions' stack

	// cancel ends ctx; closeNow calls it from any goroutine, so mu guards it.
	mu     sync.Mutex
	cancel context.CancelCauseFunc
}

// hostState is m's hostCallState, made at the first host function; only
// the goroutine of the call in flight calls it.
func (m *Module) hostState() *hostCallState {
	if s := m.hostCalls.Load(); s != nil {
		return s
	}
	s := &hostCallState{}
	s.caller = Caller{m: m}
	s.caller.mem = Memory{m: m, c: &s.caller}
	m.hostCalls.Store(s) // before closing is read (see closeNow)
	return s
}

// hostFailed says whether a host function of the call that returned failed.
func (m *Module) hostFailed() bool {
	s := m.hostCalls.Load()
	return s != nil && s.err != nil
}

// endHostCalls clears the host function state of the call (or load) that
// returned: its ctx ends, its failure is forgotten.
func (m *Module) endHostCalls() {
	s := m.hostCalls.Load()
	if s == nil {
		return
	}
	if s.ctx != nil {
		s.mu.Lock()
		cancel := s.cancel
		s.cancel = nil
		s.mu.Unlock()
		cancel(nil)
		if s.stopTimer != nil {
			s.stopTimer()
		}
		s.ctx, s.stopTimer = nil, nil
	}
	s.err = nil
}

// invoke runs hf on the goroutine of the module's call in flight (which
// holds m.lk, or is loading m), so the call state needs no lock.
func (m *Module) invoke(hf *hostFunc, thread uintptr, cptr *C.sbx_caller, raw []uint64) bool {
	s := m.hostState()
	if cap(s.stack) < len(raw) {
		s.stack = make([]uint64, len(raw))
	}
	stack := s.stack[:len(raw)]
	copy(stack, raw)
	ctx := s.ctx
	if ctx == nil {
		ctx = m.newHostContext(s, cptr)
	}
	c := &s.caller
	c.ptr, c.thread = cptr, thread
	m.inHost.Store(thread)
	err := hf.call(ctx, c, stack)
	m.inHost.Store(0)
	c.ptr, c.thread = nil, 0
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		// The library prefixes "host function `module.name`: ".
		if err.Err != nil {
			setCallerError(cptr, err.Err.Error())
		} else {
			setCallerError(cptr, fmt.Sprintf("panicked: %v", err.Panic))
		}
		return false
	}
	copy(raw, stack)
	return true
}

// newHostContext makes the ctx of the host functions of the call in flight,
// at the first one: calls that run none pay nothing for it. It ends at the
// call's deadline, when the caller's ctx ends, and when the module closes.
func (m *Module) newHostContext(s *hostCallState, cptr *C.sbx_caller) context.Context {
	parent := m.callCtx
	if parent == nil {
		parent = context.Background()
	}
	if cfg := &m.host.cfg; cfg.execTimeout > 0 && m.callTimeoutNs == cfg.execNs {
		// The ExecTimeout, not the caller's deadline, ends the call; it runs
		// from the call's start, which only the library knows.
		var left C.uint64_t
		if C.sbx_caller_time_left(cptr, &left) == C.SBX_STATUS_OK && uint64(left) != timeoutNone {
			parent, s.stopTimer = context.WithDeadline(parent, time.Now().Add(time.Duration(left)))
		}
	}
	ctx, cancel := context.WithCancelCause(parent)
	s.mu.Lock()
	s.ctx, s.cancel = ctx, cancel
	closing := m.closing.closed() // closeNow ran before cancel was set
	s.mu.Unlock()
	if closing {
		cancel(ErrClosed)
	}
	return ctx
}

// closeNow wakes the callers waiting for the module and cancels the ctx of
// its host functions, for Close (and Host.Close, during a load).
func (m *Module) closeNow() {
	m.closing.close()
	// Either this sees hostCalls, or hostState (which sets it before
	// newHostContext reads closing) sees closing closed and cancels by itself.
	s := m.hostCalls.Load()
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel(ErrClosed)
	}
	s.mu.Unlock()
}

// hostError is the error of a call (or load) op that a host function
// failed. A function that returned its ctx's error stopped because the call
// had to: the error says why, as it would had the guest been running.
func (m *Module) hostError(op string) error {
	s := m.hostCalls.Load()
	e := *s.err
	e.Op = op
	if s.ctx == nil || e.Err == nil {
		return &e
	}
	err := s.ctx.Err()
	if err == nil {
		return &e
	}
	cause := context.Cause(s.ctx)
	if !errors.Is(e.Err, err) && !errors.Is(e.Err, cause) {
		return &e
	}
	switch {
	case err == context.Canceled && cause == ErrClosed:
		return &Error{Op: op, Msg: e.message(), kind: ErrClosed, cause: []error{ErrInterrupted}}
	case err == context.DeadlineExceeded:
		return &Error{Op: op, Msg: e.message(), kind: ErrTimeout, cause: ctxCauses(s.ctx, err)}
	default:
		return &Error{Op: op, Msg: e.message(), kind: ErrInterrupted, cause: ctxCauses(s.ctx, err)}
	}
}

// call runs fn, turning an error or a panic into a *HostFunctionError.
func (hf *hostFunc) call(ctx context.Context, c *Caller, stack []uint64) (err *HostFunctionError) {
	defer func() {
		if r := recover(); r != nil {
			err = &HostFunctionError{Func: hf.name, Panic: r, Stack: string(debug.Stack())}
		}
	}()
	if e := hf.fn(ctx, c, stack); e != nil {
		return &HostFunctionError{Func: hf.name, Err: e}
	}
	return nil
}

// callerThread is the current thread, compared with Module.inHost.
func callerThread() uintptr { return uintptr(C.sbx_go_thread()) }

// callerAddr is the caller pointer as the C helpers take it.
func (c *Caller) addr() C.uintptr_t { return cAddr(unsafe.Pointer(c.ptr)) }
