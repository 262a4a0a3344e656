package wasm

// Every cgo directive of the package lives here; the other files only
// include sbx_go.h. The header and the library come from pkg-config's
// sbx.pc (make install, a release tarball, or build/lib/pkgconfig after
// make lib), whose Libs name libsbx.a itself: binaries link sbx statically.
// The per-OS flags are what sbx needs from the system, from `rustc --print
// native-static-libs` on each target (README "Link flags"); sbx.pc lists
// them too, but the package does not count on a given .pc for them.

/*
#cgo pkg-config: sbx
#cgo linux LDFLAGS: -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
#cgo darwin LDFLAGS: -liconv -lSystem -lc -lm

// No "#cgo noescape": up to Go 1.26 it changes nothing unless "nocallback"
// is given too (cmd/cgo keeps _Cgo_use on the arguments), and host functions
// will call back into Go. The call path uses a frame in C memory instead
// (sbx_go.h).

#include "sbx_go.h"
*/
import "C"

import (
	"unsafe"
)

// status is an sbx_status; kindOf maps each one to a sentinel.
type status uint32

const (
	statusInvalidArgument   status = C.SBX_STATUS_INVALID_ARGUMENT
	statusHandleClosed      status = C.SBX_STATUS_HANDLE_CLOSED
	statusOutOfBounds       status = C.SBX_STATUS_OUT_OF_BOUNDS
	statusCompileError      status = C.SBX_STATUS_COMPILE_ERROR
	statusLinkError         status = C.SBX_STATUS_LINK_ERROR
	statusInstanceLimit     status = C.SBX_STATUS_INSTANCE_LIMIT
	statusResourceLimit     status = C.SBX_STATUS_RESOURCE_LIMIT
	statusExportNotFound    status = C.SBX_STATUS_EXPORT_NOT_FOUND
	statusSignatureMismatch status = C.SBX_STATUS_SIGNATURE_MISMATCH
	statusTimeout           status = C.SBX_STATUS_TIMEOUT
	statusInterrupted       status = C.SBX_STATUS_INTERRUPTED
	statusFuelExhausted     status = C.SBX_STATUS_FUEL_EXHAUSTED
	statusTrap              status = C.SBX_STATUS_TRAP
	statusExit              status = C.SBX_STATUS_EXIT
	statusHostError         status = C.SBX_STATUS_HOST_ERROR
	statusIO                status = C.SBX_STATUS_IO
	statusInternal          status = C.SBX_STATUS_INTERNAL
)

// timeoutNone is SBX_TIMEOUT_NONE: no deadline, overriding any host default.
const timeoutNone = uint64(C.SBX_TIMEOUT_NONE)

// maxInlineValues is how many params and results fit in a module's call
// frame; a call with more takes a slower path with Go buffers.
const maxInlineValues = C.SBX_GO_INLINE_VALUES

// cError is what an sbx_error said, copied into Go memory.
type cError struct {
	status    status
	message   string
	trapCode  TrapCode
	backtrace string
	exitCode  int32 // for statusExit
}

// takeError copies and frees the error of a failed C call. err may be NULL
// (it should not be), in which case the status name stands in as message.
func takeError(st C.sbx_status, err *C.sbx_error) cError {
	if err == nil {
		return cError{status: status(st), message: statusName(status(st))}
	}
	defer C.sbx_error_free(err)
	ce := cError{
		status:    status(C.sbx_error_status(err)),
		message:   C.GoString(C.sbx_error_message(err)),
		trapCode:  TrapCode(C.sbx_error_trap_code(err)),
		backtrace: C.GoString(C.sbx_error_backtrace(err)),
	}
	if ce.status == statusExit {
		var code C.int32_t
		if C.sbx_error_exit_code(err, &code) == C.SBX_STATUS_OK {
			ce.exitCode = int32(code)
		}
	}
	return ce
}

// statusName is the C name of a status, e.g. "SBX_STATUS_TIMEOUT".
func statusName(s status) string {
	return C.GoString(C.sbx_status_name(C.uint32_t(s)))
}

// trapCodeName is the library's description of a trap code.
func trapCodeName(code TrapCode) string {
	return C.GoString(C.sbx_trap_code_name(C.uint8_t(code)))
}

// Version is the version of the linked sbx library, e.g. "0.1.0".
func Version() string {
	return C.GoString(C.sbx_version())
}

// bytesPtr is the data pointer of b as the C side wants it (NULL if empty).
func bytesPtr(b []byte) *C.uint8_t {
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b)))
}

// cAddr passes a pointer to C memory as an integer, which cgo does not check.
func cAddr(p unsafe.Pointer) C.uintptr_t { return C.uintptr_t(uintptr(p)) }

// stringPtr is the data pointer of s (no NUL; lengths travel separately).
func stringPtr(s string) *C.char {
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s)))
}

// cgoCrossing is the cheapest call into the library, the floor under every
// call (BenchmarkCgoCrossing).
func cgoCrossing() uintptr { return uintptr(unsafe.Pointer(C.sbx_version())) }
