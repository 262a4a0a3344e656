// The C side of the callbacks into Go: sbx calls these, they call the
// functions exported by export.go. User data is a registry id, not a pointer.

#include "sbx_go.h"
#include "_cgo_export.h"

int32_t sbx_go_host_trampoline(void *user_data, sbx_caller *caller, uint64_t *stack, size_t stack_len) {
	uint64_t module_id = 0;
	sbx_caller_user_data(caller, &module_id);
	return sbxGoHostCall((uintptr_t)user_data, module_id, (uintptr_t)pthread_self(), caller, stack, stack_len);
}

void sbx_go_output_trampoline(void *user_data, const uint8_t *data, size_t len) {
	sbxGoOutput((uintptr_t)user_data, (uint8_t *)data, len);
}

void sbx_go_free_func(void *user_data) { sbxGoFreeFunc((uintptr_t)user_data); }

void sbx_go_free_sink(void *user_data) { sbxGoFreeSink((uintptr_t)user_data); }
