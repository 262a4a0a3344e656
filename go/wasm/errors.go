package wasm

// #include "sbx_go.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Every error this package returns wraps one of them (a
// guest trap is a *TrapError, which wraps ErrTrap), so callers can branch
// with errors.Is; the text of the error keeps the library's message. A call
// stopped by its module's Close wraps both ErrClosed and ErrInterrupted.
var (
	// ErrInvalidName: a module name that is empty, only whitespace, or not UTF-8.
	ErrInvalidName = errors.New("wasm: invalid module name")
	// ErrInvalidOption: an option given to NewHost or LoadModule is invalid.
	ErrInvalidOption = errors.New("wasm: invalid option")
	// ErrInvalidArgument: any other argument the library rejected, or a
	// method called where it cannot run (from a host function of the
	// module's own call).
	ErrInvalidArgument = errors.New("wasm: invalid argument")
	// ErrClosed: the Host or Module was closed.
	ErrClosed = errors.New("wasm: closed")
	// ErrCompile: the bytes are not valid WebAssembly (or use a disabled
	// feature, or export an _initialize that takes or returns values).
	ErrCompile = errors.New("wasm: compile error")
	// ErrLink: the module imports something the host does not provide.
	ErrLink = errors.New("wasm: link error")
	// ErrInstanceLimit: the host's module cap (WithMaxModules) is reached, or
	// a compile is needed while WithMaxAbandonedCompiles abandoned ones run.
	ErrInstanceLimit = errors.New("wasm: instance limit reached")
	// ErrResourceLimit: the module's initial memories (or tables) together
	// exceed the limit, or it has more memories or tables than the host allows
	// (one of each under pooling); the message names the limit.
	ErrResourceLimit = errors.New("wasm: resource limit exceeded")
	// ErrExportNotFound: no exported function by that name.
	ErrExportNotFound = errors.New("wasm: export not found")
	// ErrSignatureMismatch: wrong number of params, or a signature using types
	// that cannot cross as uint64 (v128, references).
	ErrSignatureMismatch = errors.New("wasm: signature mismatch")
	// ErrTimeout: the call's (or load's) deadline passed. Such errors also
	// satisfy errors.Is(err, context.DeadlineExceeded).
	ErrTimeout = errors.New("wasm: timeout")
	// ErrInterrupted: the call or load was stopped before it finished. When
	// the context was cancelled, the error also wraps ctx.Err().
	ErrInterrupted = errors.New("wasm: interrupted")
	// ErrFuelExhausted: the call used up its fuel (WithFuelLimit).
	ErrFuelExhausted = errors.New("wasm: fuel exhausted")
	// ErrTrap: the guest trapped; errors.As gives the *TrapError.
	ErrTrap = errors.New("wasm: trap")
	// ErrExit: a WASI program exited with a non-zero code; errors.As gives
	// the *ExitError.
	ErrExit = errors.New("wasm: guest exited")
	// ErrHostFunction: a host function the guest called failed (returned an
	// error or panicked); errors.As gives the *HostFunctionError.
	ErrHostFunction = errors.New("wasm: host function failed")
	// ErrIO: the compilation cache directory could not be used, or a WASI
	// Dir could not be opened.
	ErrIO = errors.New("wasm: i/o error")
	// ErrInternal: the library itself failed; the process is still usable.
	ErrInternal = errors.New("wasm: internal error")
)

// Error is the error type of every failure except traps: Op says what failed
// (e.g. `call "add" on module "math"`), Msg is the library's message, and it
// wraps a sentinel and, for timeouts and cancellations, the context error.
type Error struct {
	Op  string
	Msg string

	kind  error
	cause []error
}

// errorPrefix starts every error's text: "wasm: " and the operation, if any.
func errorPrefix(op string) *strings.Builder {
	b := new(strings.Builder)
	b.WriteString("wasm: ")
	if op != "" {
		b.WriteString(op)
		b.WriteString(": ")
	}
	return b
}

func (e *Error) Error() string {
	b := errorPrefix(e.Op)
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap gives the sentinel and any context errors, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	return append([]error{e.kind}, e.cause...)
}

// TrapError is a guest trap: its code, the library's message, and the wasm
// backtrace (one frame per line, possibly empty). It wraps ErrTrap.
type TrapError struct {
	Op        string
	Code      TrapCode
	Message   string
	Backtrace string
}

func (e *TrapError) Error() string {
	b := errorPrefix(e.Op)
	b.WriteString("trap (")
	b.WriteString(e.Code.String())
	b.WriteString("): ")
	b.WriteString(e.Message)
	if bt := strings.TrimRight(e.Backtrace, "\n"); bt != "" {
		b.WriteString("\nwasm backtrace:\n")
		b.WriteString(bt)
	}
	return b.String()
}

// Unwrap gives ErrTrap.
func (e *TrapError) Unwrap() error { return ErrTrap }

// ExitError is a WASI program that exited with a non-zero code (through
// exit() or proc_exit). It wraps ErrExit. Exit code 0 is not an error.
type ExitError struct {
	Op   string
	Code int
}

func (e *ExitError) Error() string {
	b := errorPrefix(e.Op)
	b.WriteString("exited with code ")
	b.WriteString(strconv.Itoa(e.Code))
	return b.String()
}

// Unwrap gives ErrExit.
func (e *ExitError) Unwrap() error { return ErrExit }

// HostFunctionError is a host function (Host.DefineFunction) that failed
// while a guest called it: it returned Err, or it panicked with Panic. The
// guest's call is aborted and returns this error. It wraps ErrHostFunction
// and Err (and Panic, when that is an error), so errors.Is finds the error
// the function returned.
type HostFunctionError struct {
	Op    string // the call (or load) that failed
	Func  string // the import, e.g. "host.shout"
	Err   error  // what the function returned; nil if it panicked
	Panic any    // the value it panicked with; nil if it returned Err
	Stack string // the goroutine's stack at the panic; "" if it returned Err
}

func (e *HostFunctionError) Error() string {
	b := errorPrefix(e.Op)
	b.WriteString(e.message())
	return b.String()
}

// message is the error without "wasm: " and Op, as the guest's call sees it.
func (e *HostFunctionError) message() string {
	if e.Err != nil {
		return "host function " + e.Func + ": " + e.Err.Error()
	}
	return fmt.Sprintf("host function %s panicked: %v", e.Func, e.Panic)
}

// Unwrap gives ErrHostFunction, Err, and Panic if it is an error.
func (e *HostFunctionError) Unwrap() []error {
	errs := []error{ErrHostFunction}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if err, ok := e.Panic.(error); ok {
		errs = append(errs, err)
	}
	return errs
}

// TrapCode says why a guest trapped; the values are SBX_TRAP_CODE_*.
type TrapCode uint8

// Trap codes, taken from the C header (TestHeaderTrapCodes checks that
// every code there has one).
const (
	TrapNone                   TrapCode = C.SBX_TRAP_CODE_NONE
	TrapStackOverflow          TrapCode = C.SBX_TRAP_CODE_STACK_OVERFLOW
	TrapMemoryOutOfBounds      TrapCode = C.SBX_TRAP_CODE_MEMORY_OUT_OF_BOUNDS
	TrapHeapMisaligned         TrapCode = C.SBX_TRAP_CODE_HEAP_MISALIGNED
	TrapTableOutOfBounds       TrapCode = C.SBX_TRAP_CODE_TABLE_OUT_OF_BOUNDS
	TrapIndirectCallToNull     TrapCode = C.SBX_TRAP_CODE_INDIRECT_CALL_TO_NULL
	TrapBadSignature           TrapCode = C.SBX_TRAP_CODE_BAD_SIGNATURE
	TrapIntegerOverflow        TrapCode = C.SBX_TRAP_CODE_INTEGER_OVERFLOW
	TrapIntegerDivisionByZero  TrapCode = C.SBX_TRAP_CODE_INTEGER_DIVISION_BY_ZERO
	TrapBadConversionToInteger TrapCode = C.SBX_TRAP_CODE_BAD_CONVERSION_TO_INTEGER
	TrapUnreachable            TrapCode = C.SBX_TRAP_CODE_UNREACHABLE
	TrapAllocationTooLarge     TrapCode = C.SBX_TRAP_CODE_ALLOCATION_TOO_LARGE
	TrapNullReference          TrapCode = C.SBX_TRAP_CODE_NULL_REFERENCE
	TrapOther                  TrapCode = C.SBX_TRAP_CODE_OTHER
)

// String is the library's short description, e.g. "integer divide by zero".
func (c TrapCode) String() string { return trapCodeName(c) }

// kindOf is the sentinel for a status (TestHeaderStatuses checks that every
// status of the C header has one).
func kindOf(s status) error {
	switch s {
	case statusInvalidArgument:
		return ErrInvalidArgument
	case statusOutOfBounds:
		// Only the memory accessors return it, and Memory turns every failure
		// into false, so it never becomes an error today; were it to, it is a
		// caller's argument (an offset) that the library rejected.
		return ErrInvalidArgument
	case statusHandleClosed:
		return ErrClosed
	case statusCompileError:
		return ErrCompile
	case statusLinkError:
		return ErrLink
	case statusInstanceLimit:
		return ErrInstanceLimit
	case statusResourceLimit:
		return ErrResourceLimit
	case statusExportNotFound:
		return ErrExportNotFound
	case statusSignatureMismatch:
		return ErrSignatureMismatch
	case statusTimeout:
		return ErrTimeout
	case statusInterrupted:
		return ErrInterrupted
	case statusFuelExhausted:
		return ErrFuelExhausted
	case statusTrap:
		return ErrTrap
	case statusExit:
		return ErrExit
	case statusHostError:
		return ErrHostFunction
	case statusIO:
		return ErrIO
	case statusInternal:
		return ErrInternal
	default: // a status newer than this package
		return ErrInternal
	}
}

// newError turns a C failure into a Go error. ctx (may be nil) explains an
// interruption; closed says whether the object was closed meanwhile.
func newError(op string, ce cError, ctx context.Context, closed bool) error {
	switch ce.status {
	case statusTrap:
		return &TrapError{Op: op, Code: ce.trapCode, Message: ce.message, Backtrace: ce.backtrace}
	case statusExit:
		return &ExitError{Op: op, Code: int(ce.exitCode)}
	case statusTimeout:
		return &Error{Op: op, Msg: ce.message, kind: ErrTimeout, cause: []error{context.DeadlineExceeded}}
	case statusInterrupted, statusHandleClosed:
		if ce.status == statusInterrupted && ctx != nil {
			if err := ctx.Err(); err != nil {
				// ctx's deadline triggers the token too, and may beat the
				// library's own deadline by a hair: still a timeout.
				kind := ErrInterrupted
				if err == context.DeadlineExceeded {
					kind = ErrTimeout
				}
				return &Error{Op: op, Msg: ce.message, kind: kind, cause: ctxCauses(ctx, err)}
			}
		}
		// The library reports a call stopped by its module's close as
		// HANDLE_CLOSED; in Go that is a close and an interruption.
		if closed {
			return &Error{Op: op, Msg: ce.message, kind: ErrClosed, cause: []error{ErrInterrupted}}
		}
	}
	return &Error{Op: op, Msg: ce.message, kind: kindOf(ce.status)}
}

// optionError is the library refusing a setting (INVALID_ARGUMENT from a
// validating call): ErrInvalidOption with the library's message; any other
// status maps as newError maps it.
func optionError(op, what string, ce cError) error {
	if ce.status != statusInvalidArgument {
		return newError(op, ce, nil, false)
	}
	msg := ce.message
	if what != "" {
		msg = what + ": " + msg
	}
	return &Error{Op: op, Msg: msg, kind: ErrInvalidOption}
}

// ctxCauses is ctx.Err() plus its cause, when one was given and differs.
func ctxCauses(ctx context.Context, err error) []error {
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return []error{err, cause}
	}
	return []error{err}
}

// ctxError is the error for a context that ended before the work started
// (why says where it stopped): ErrTimeout for a deadline, as when one stops
// a call, and ErrInterrupted otherwise, both wrapping err (ctx.Err(), or
// DeadlineExceeded for a deadline that passed before ctx noticed) and the
// context's cause.
func ctxError(op, why string, ctx context.Context, err error) error {
	kind := ErrInterrupted
	if err == context.DeadlineExceeded {
		kind = ErrTimeout
	}
	return &Error{Op: op, Msg: why + ": " + err.Error(), kind: kind, cause: ctxCauses(ctx, err)}
}

// closedError is ErrClosed for op.
func closedError(op, what string) error {
	return &Error{Op: op, Msg: what + " is closed", kind: ErrClosed}
}
