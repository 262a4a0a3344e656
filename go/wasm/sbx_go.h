// The sbx C API as the Go package sees it.
#ifndef SBX_GO_H
#define SBX_GO_H

#include "sbx.h"

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
static inline enum sbx_status sbx_go_call(uintptr_t module, const uint8_t *func, size_t func_len,
                                          uintptr_t frame_addr, size_t params_len, uint64_t timeout_ns,
                                          uintptr_t cancel) {
	sbx_go_frame *frame = (sbx_go_frame *)frame_addr;
	frame->error = NULL;
	return sbx_call_with_timeout((const sbx_module *)module, func, func_len, frame->params, params_len,
	                             frame->results, SBX_GO_INLINE_VALUES, &frame->results_len, timeout_ns,
	                             (const sbx_cancel *)cancel, &frame->error);
}

#endif
