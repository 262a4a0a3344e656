// The sbx C API as the Go package sees it.
#ifndef SBX_GO_H
#define SBX_GO_H

#include "sbx.h"

#include <pthread.h>
#include <stdlib.h>

// Values a call passes through its module's frame; more take a slower path.
#define SBX_GO_INLINE_VALUES 16

// A call's params, results and error, in C memory. Go cannot hand C
// pointers to its stack without them escaping to the heap (cgo's noescape
// only takes effect together with nocallback, which host functions rule
// out), so each module owns one frame, used by one call at a time.
typedef struct sbx_go_frame {
	uint64_t params[SBX_GO_INLINE_VALUES];
	uint64_t results[SBX_GO_INLINE_VALUES];
	size_t results_len;
	sbx_error *error;
} sbx_go_frame;

// sbx_call_with_timeout with the params, results and error in `frame`. The
// handles arrive as integers: they point to C memory, and cgo would
// otherwise check each pointer argument of an opaque type on every call.
static inline sbx_status sbx_go_call(uintptr_t module, const char *func, size_t func_len,
                                          uintptr_t frame_addr, size_t params_len, uint64_t timeout_ns,
                                          uintptr_t cancel) {
	sbx_go_frame *frame = (sbx_go_frame *)frame_addr;
	frame->error = NULL;
	return sbx_call_with_timeout((const sbx_module *)module, func, func_len, frame->params, params_len,
	                             frame->results, SBX_GO_INLINE_VALUES, &frame->results_len, timeout_ns,
	                             (const sbx_cancel *)cancel, &frame->error);
}

// Callbacks into Go (callbacks.c). Their user data is an integer id of a
// Go-side registry entry, never a Go pointer.
int32_t sbx_go_host_trampoline(void *user_data, sbx_caller *caller, uint64_t *stack, size_t stack_len);
void sbx_go_output_trampoline(void *user_data, const uint8_t *data, size_t len);
void sbx_go_free_func(void *user_data);
void sbx_go_free_sink(void *user_data);

// The calling thread, to tell whether a goroutine runs inside a host
// function (a goroutine in a cgo callback stays on its thread).
static inline uintptr_t sbx_go_thread(void) { return (uintptr_t)pthread_self(); }

// sbx_host_define_func with the Go trampoline and registry id `id`.
static inline sbx_status sbx_go_define_func(const sbx_host *host, const char *module_name, size_t module_name_len,
                                                 const char *func_name, size_t func_name_len, const uint8_t *params,
                                                 size_t params_len, const uint8_t *results, size_t results_len,
                                                 uintptr_t id, sbx_error **error_out) {
	return sbx_host_define_func(host, module_name, module_name_len, func_name, func_name_len, params, params_len,
	                            results, results_len, sbx_go_host_trampoline, (void *)id, sbx_go_free_func, error_out);
}

// Sends stdout (stderr when `err`) to the Go writer registered as `id`.
static inline sbx_status sbx_go_wasi_output(sbx_wasi_config *config, bool err, uintptr_t id) {
	if (err)
		return sbx_wasi_config_set_stderr(config, sbx_go_output_trampoline, (void *)id, sbx_go_free_sink);
	return sbx_wasi_config_set_stdout(config, sbx_go_output_trampoline, (void *)id, sbx_go_free_sink);
}

// Caller memory access, refused unless on the thread running the host
// function (`thread`), so that a *Caller kept past its callback, or used
// from another goroutine, cannot touch a caller that is not its own.
static inline sbx_status sbx_go_caller_size(uintptr_t caller, uintptr_t thread, uint64_t *size_out) {
	if (caller == 0 || (uintptr_t)pthread_self() != thread)
		return SBX_STATUS_INVALID_ARGUMENT;
	return sbx_caller_memory_size((sbx_caller *)caller, size_out);
}

static inline sbx_status sbx_go_caller_read(uintptr_t caller, uintptr_t thread, uint64_t offset, uint8_t *buf,
                                                 size_t len) {
	if (caller == 0 || (uintptr_t)pthread_self() != thread)
		return SBX_STATUS_INVALID_ARGUMENT;
	return sbx_caller_memory_read((sbx_caller *)caller, offset, buf, len);
}

static inline sbx_status sbx_go_caller_write(uintptr_t caller, uintptr_t thread, uint64_t offset,
                                                  const uint8_t *data, size_t len) {
	if (caller == 0 || (uintptr_t)pthread_self() != thread)
		return SBX_STATUS_INVALID_ARGUMENT;
	return sbx_caller_memory_write((sbx_caller *)caller, offset, data, len);
}

#endif
