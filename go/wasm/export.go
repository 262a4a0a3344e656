package wasm

// The Go functions sbx calls back (through the trampolines of callbacks.c).
// A file with //export may only declare things in its preamble, so it
// includes sbx.h (declarations only) rather than sbx_go.h.

/*
#include <stddef.h>
#include <stdint.h>
#include "sbx.h"
*/
import "C"

import "unsafe"

// sbxGoHostCall runs host function fid for the module registered as mid, on
// the thread `thread`. It never lets a panic cross into C.
//
//export sbxGoHostCall
func sbxGoHostCall(fid C.uintptr_t, mid C.uint64_t, thread C.uintptr_t, caller *C.sbx_caller, stack *C.uint64_t,
	n C.size_t) C.int32_t {
	var raw []uint64
	if n > 0 {
		raw = unsafe.Slice((*uint64)(unsafe.Pointer(stack)), int(n))
	}
	if invokeHostFunc(uint64(fid), uint64(mid), uintptr(thread), caller, raw) {
		return 0
	}
	return 1
}

// sbxGoOutput passes guest output to the writer registered as id.
//
//export sbxGoOutput
func sbxGoOutput(id C.uintptr_t, data *C.uint8_t, n C.size_t) {
	if n == 0 {
		return
	}
	writeOutput(uint64(id), unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n)))
}

// sbxGoFreeFunc drops host function id once the library no longer needs it.
//
//export sbxGoFreeFunc
func sbxGoFreeFunc(id C.uintptr_t) { hostFuncs.remove(uint64(id), nil) }

// sbxGoFreeSink drops output writer id once the library no longer needs it.
//
//export sbxGoFreeSink
func sbxGoFreeSink(id C.uintptr_t) { outputSinks.remove(uint64(id), nil) }

// setCallerError sets the message of a failing host call.
func setCallerError(caller *C.sbx_caller, msg string) {
	C.sbx_caller_set_error(caller, stringPtr(msg), C.size_t(len(msg)))
}
