package wasm

// #include "sbx_go.h"
import "C"

import (
	"context"
	"time"
)

// WithResetAfterFailure makes the module reset itself (see Module.Reset)
// after a call fails in the guest: a trap, timeout, interrupt, fuel
// exhaustion, host-function failure or non-zero exit. The reset happens
// lazily, at the start of the next call (under that call's ctx) or the
// next Memory write, so the failing call returns at once and its state
// stays readable (through Memory) until then. If that reset fails, the
// call fails with its error and the module is closed.
func WithResetAfterFailure() LoadOption {
	return func(l *loadConfig) { l.reset = C.SBX_RESET_POLICY_AFTER_FAILURE }
}

// WithResetAfterEachCall makes every call start from a pristine instance:
// the module resets itself lazily after each call, as WithResetAfterFailure
// does after a failed one, so no data from one call is visible to the next.
// Results and memory stay readable until the next call or Memory write.
func WithResetAfterEachCall() LoadOption {
	return func(l *loadConfig) { l.reset = C.SBX_RESET_POLICY_AFTER_EACH_CALL }
}

// Reset makes the module exactly what it was right after it was loaded: a
// new instance from the same compiled code, so its memories, globals
// (exported or not) and tables start over, and its start function and a
// WASI reactor's _initialize run again, under ctx as in LoadModule (its
// deadline stops them with ErrTimeout, its cancellation with
// ErrInterrupted; host functions receive ctx). The module keeps its name,
// stats and identity, so pointers to it stay valid.
//
// Reset waits for a call in flight, giving up when ctx ends or the module
// closes (ErrClosed). A reset that fails once it has begun (its start
// function traps, times out, or the host's memory budget is spent) leaves
// the module closed: the error says so, and later methods return
// ErrClosed. From a host function of the module's own call it returns
// ErrInvalidArgument.
func (m *Module) Reset(ctx context.Context) error {
	op := m.op("reset")
	if ctx == nil {
		ctx = context.Background()
	}
	if m.reentrant() {
		return m.reentryError(op)
	}
	done := ctx.Done()
	if done != nil {
		if err := ctx.Err(); err != nil {
			return ctxError(op, "the reset did not start", ctx, err)
		}
	}
	if !m.lk.tryLock() && !m.lk.lockSlow(done, m.closing.Done()) {
		if m.closed.Load() {
			return closedError(op, "module")
		}
		return ctxError(op, "gave up waiting for the call in flight", ctx, ctx.Err())
	}
	defer m.lk.unlock()
	if m.ptr == nil {
		return closedError(op, "module")
	}
	timeoutNs := timeoutNone // as a load: the ExecTimeout does not apply
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			return ctxError(op, "the reset did not start", ctx, context.DeadlineExceeded)
		}
		timeoutNs = uint64(left)
	}
	m.callCtx, m.callTimeoutNs = ctx, timeoutNs
	var cerr *C.sbx_error
	var st C.sbx_status
	m.enterGuest() // the start function may call host functions
	if done == nil {
		st = C.sbx_module_reset(m.ptr, C.uint64_t(timeoutNs), nil, &cerr)
	} else {
		stop := context.AfterFunc(ctx, m.triggerFunc())
		st = C.sbx_module_reset(m.ptr, C.uint64_t(timeoutNs), m.tok, &cerr)
		if !stop() {
			<-m.fired // the trigger ran or is running: wait for it to finish
			C.sbx_cancel_reset(m.tok)
		}
	}
	m.leaveGuest()
	var err error
	if st != C.SBX_STATUS_OK {
		ce := takeError(st, cerr)
		if ce.status == statusHostError && m.hostFailed() {
			err = m.hostError(op)
		} else {
			err = newError(op, ce, ctx, m.closed.Load())
		}
	}
	m.endHostCalls()
	m.callCtx = nil
	if m.closeDeferred {
		m.release()
	} else if err != nil && m.libraryClosed() {
		m.closeAfterLibrary()
	}
	return err
}

// closeAfterLibrary closes m, which the library closed (a failed reset
// does), so that its methods say ErrClosed and its handles are freed; m.lk
// is held. A Close already under way keeps the claim, and waits on m.lk.
func (m *Module) closeAfterLibrary() {
	first := m.closed.CompareAndSwap(false, true)
	if first {
		m.closeNow()
	}
	m.release()
	if first {
		m.closeDone.close()
	}
}

// libraryClosed says whether the library closed the module (a failed
// reset does); m.lk is held. Only failure paths ask: it is a cgo call.
func (m *Module) libraryClosed() bool {
	var size C.uint64_t
	return m.ptr == nil || C.sbx_module_memory_size(m.ptr, &size) == C.SBX_STATUS_HANDLE_CLOSED
}
