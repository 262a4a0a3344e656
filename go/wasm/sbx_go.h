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

// A module's C memory: its call frame, its cancel token, which is first
// its load's, its load's options, and its Go registry id. A host keeps the
// slots of closed modules for later loads, so that a load allocates none,
// makes no token, builds no options and takes no id.
typedef struct sbx_go_slot {
	sbx_go_frame frame;
	sbx_cancel *cancel;
	uint64_t module_id; // the Go registry id of the module using the slot
	// The options of its loads: the cancel token and the module id (as the
	// user data) are set once, a WASI config only for its load; reset is
	// the policy they hold.
	sbx_load_options *options;
	sbx_reset_policy reset;
} sbx_go_slot;

// A new slot for modules with registry id `module_id`, or NULL with
// *status set (SBX_STATUS_OK: no memory for it).
static inline sbx_go_slot *sbx_go_slot_new(uintptr_t host, uint64_t module_id, sbx_status *status) {
	*status = SBX_STATUS_OK;
	sbx_go_slot *slot = (sbx_go_slot *)calloc(1, sizeof(sbx_go_slot));
	if (slot == NULL)
		return NULL;
	slot->options = sbx_load_options_new();
	if (slot->options == NULL) {
		free(slot);
		return NULL;
	}
	*status = sbx_cancel_new((const sbx_host *)host, &slot->cancel);
	if (*status != SBX_STATUS_OK) {
		sbx_load_options_free(slot->options);
		free(slot);
		return NULL;
	}
	slot->module_id = module_id;
	slot->reset = SBX_RESET_POLICY_NEVER;
	sbx_load_options_set_cancel(slot->options, slot->cancel);
	sbx_load_options_set_user_data(slot->options, module_id);
	return slot;
}

static inline void sbx_go_slot_free(uintptr_t slot) {
	if (slot == 0)
		return;
	sbx_cancel_free(((sbx_go_slot *)slot)->cancel);
	sbx_load_options_free(((sbx_go_slot *)slot)->options);
	free((void *)slot);
}

// What sbx_go_load returns, by value so that Go passes no pointer to its
// stack (which would escape to the heap).
typedef struct sbx_go_load_result {
	sbx_status status;
	sbx_status memory_status; // sbx_module_memory_size's, when asked
	sbx_module *module;
	sbx_error *error;
} sbx_go_load_result;

// A whole load in one cgo crossing: the load options in `slot` (timeout,
// reset policy, WASI config or NULL for the host's; its cancel token and
// module id are set already), then sbx_compiled_instantiate (compiled != 0) or
// sbx_load_module_with, and, if `probe_memory`, whether the module has a
// memory (SBX_STATUS_OK) or not (SBX_STATUS_EXPORT_NOT_FOUND).
static inline sbx_go_load_result sbx_go_load(uintptr_t host, uintptr_t compiled, const char *name, size_t name_len,
                                             const uint8_t *wasm, size_t wasm_len, uintptr_t wasi,
                                             uint64_t timeout_ns, sbx_reset_policy reset, uintptr_t slot_addr,
                                             bool probe_memory) {
	sbx_go_load_result r = {0};
	sbx_go_slot *slot = (sbx_go_slot *)slot_addr;
	sbx_load_options *options = slot->options;
	if (wasi != 0)
		sbx_load_options_set_wasi(options, (const sbx_wasi_config *)wasi); // copies it
	sbx_load_options_set_timeout_ns(options, timeout_ns);
	if (reset != slot->reset && sbx_load_options_set_reset_policy(options, reset) == SBX_STATUS_OK)
		slot->reset = reset;
	if (compiled != 0)
		r.status = sbx_compiled_instantiate((const sbx_compiled *)compiled, name, name_len, options, &r.module,
		                                    &r.error);
	else
		r.status = sbx_load_module_with((const sbx_host *)host, name, name_len, wasm, wasm_len, options,
		                                &r.module, &r.error);
	if (wasi != 0)
		sbx_load_options_set_wasi(options, NULL); // frees the copy now
	if (r.status == SBX_STATUS_OK && probe_memory) {
		uint64_t size;
		r.memory_status = sbx_module_memory_size(r.module, &size);
	}
	return r;
}

// Frees a module in one crossing, returning its last counters (size 0 if
// the library refused them).
static inline sbx_module_counters sbx_go_release(uintptr_t module) {
	sbx_module_counters c = {0};
	c.size = sizeof c;
	if (sbx_module_stats((const sbx_module *)module, &c) != SBX_STATUS_OK)
		c.size = 0;
	sbx_module_free((sbx_module *)module);
	return c;
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
