/*
 * Helpers shared by the C tests of sbx (one test_<area>.c per binary):
 * fixture loading, status checks that print the status name and error
 * message, a monotonic clock, temporary directories, WASI output capture,
 * the plugin guest's host.shout, and the test table that main() (in
 * sbx_test.c) runs and lists.
 *
 * Every helper frees each sbx_error it receives, so that the AddressSanitizer
 * build (LeakSanitizer) proves the library hands out nothing it cannot free.
 */
#ifndef SBX_TEST_H
#define SBX_TEST_H

#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* nftw, truncate */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sbx.h"

#ifndef SBX_TESTDATA_DIR
#error "SBX_TESTDATA_DIR must be defined by the build"
#endif

/* Generous upper bound (ms) for anything that should take ~50-100 ms. */
#ifndef SBX_SLOW_BOUND_MS
#define SBX_SLOW_BOUND_MS 2000
#endif

extern int sbx_test_failures;

#define FAIL_AT(file, line, ...)                                              \
  do {                                                                        \
    fprintf(stderr, "%s:%d: FAIL: ", file, line);                             \
    fprintf(stderr, __VA_ARGS__);                                             \
    fputc('\n', stderr);                                                      \
    sbx_test_failures++;                                                      \
  } while (0)

/* A non-fatal check: records the failure and goes on. */
#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) FAIL_AT(__FILE__, __LINE__, "%s", #cond);                    \
  } while (0)

/* A fatal check: stops the test (the process exits non-zero). */
#define REQUIRE(cond)                                                         \
  do {                                                                        \
    if (!(cond)) {                                                            \
      FAIL_AT(__FILE__, __LINE__, "required: %s", #cond);                     \
      exit(1);                                                                \
    }                                                                         \
  } while (0)

/* Checks that `got` is status `want`, printing both names on failure. */
#define CHECK_STATUS(got, want)                                               \
  sbx_test_check_status(__FILE__, __LINE__, #got, (got), (want), NULL)

/* Like CHECK_STATUS, and also prints the error's message on failure. */
#define CHECK_STATUS_ERR(got, want, err)                                      \
  sbx_test_check_status(__FILE__, __LINE__, #got, (got), (want), (err))

bool sbx_test_check_status(const char *file, int line, const char *expr,
                           sbx_status got, sbx_status want,
                           const sbx_error *err);

/* Reads testdata/<name> into a malloc'd buffer; exits on failure. */
uint8_t *sbx_test_read_fixture(const char *name, size_t *len_out);

/* Monotonic milliseconds. */
double sbx_test_now_ms(void);

/* Sleeps for `ms` milliseconds. */
void sbx_test_sleep_ms(unsigned ms);

/* A host from `config` (NULL for defaults); exits on failure. */
sbx_host *sbx_test_host(const sbx_config *config);

/* Checks the error out-param of a call that returned `st` (written exactly
 * on failure, with the same status and a one-line message), then hands `err` to `*err_out` or frees
 * it when `err_out` is NULL. Returns `st`. */
sbx_status sbx_test_hand_error(sbx_status st, sbx_error *err,
                               sbx_error **err_out);

/*
 * Loads testdata/<fixture> as module `fixture` on `host` with the host's
 * load timeout. Returns the status; on success writes *module_out. If
 * `err_out` is NULL the error (if any) is freed here.
 */
sbx_status sbx_test_load(const sbx_host *host, const char *fixture,
                         sbx_module **module_out, sbx_error **err_out);

/* sbx_test_load that must succeed; exits otherwise. */
sbx_module *sbx_test_must_load(const sbx_host *host, const char *fixture);

/*
 * Calls `func` (a NUL-terminated name) with the given params and timeout.
 * Results go to `results` (capacity `cap`), the count to *n_out (may be
 * NULL). If `err_out` is NULL the error (if any) is freed here.
 */
sbx_status sbx_test_call(const sbx_module *module, const char *func,
                         const uint64_t *params, size_t nparams,
                         uint64_t *results, size_t cap, size_t *n_out,
                         uint64_t timeout_ns, const sbx_cancel *cancel,
                         sbx_error **err_out);

#define MS_TO_NS(ms) ((uint64_t)(ms) * 1000000u)

/* ------------------------------------------------------------------ */
/* the test table and runner                                           */

/* How ctest registers a test (read from `--list`, see CMakeLists.txt). */
enum {
  /* Timing-sensitive: runs alone (RUN_SERIAL) so a busy machine does not
   * starve it. */
  SBX_TEST_SERIAL = 1u << 0,
  /* Dies on purpose: registered only under SBX_ASAN, where it must end in
   * an ASan report; skipped by `all`. */
  SBX_TEST_CRASH = 1u << 1,
};

/* A named test: `<binary> <name>` runs it, `<binary> --list` prints
 * "<name> [serial] [crash]" for each. */
typedef struct sbx_test_case {
  const char *name;
  void (*run)(void);
  unsigned flags;
} sbx_test_case;

/* Each test binary's table (one test_<area>.c per binary); main() is in
 * sbx_test.c. */
extern const sbx_test_case sbx_tests[];
extern const size_t sbx_tests_count;

/* ------------------------------------------------------------------ */
/* calls                                                                */

sbx_config *new_config(void);

/* Expects a call to fail with `want` (or succeed, for SBX_STATUS_OK) with
 * at most `cap` (<= 8) results; frees the error. */
void expect_call(const sbx_module *m, const char *func,
                 const uint64_t *params, size_t nparams, size_t cap,
                 uint64_t timeout_ns, sbx_status want);

/* Calls a function that must succeed and return exactly one value. */
uint64_t call1(const sbx_module *m, const char *func, const uint64_t *params,
               size_t nparams);

const uint8_t *u8(const char *s);

/* ------------------------------------------------------------------ */
/* WASI output capture and loading with options                         */

/* Output captured from a guest's stdout or stderr. */
typedef struct capture {
  char *data; /* NUL-terminated, `len` bytes (may contain NULs) */
  size_t len;
  size_t cap;
  size_t callbacks; /* number of output callbacks */
  int frees;        /* number of free_user_data calls */
} capture;

#define CHECK_OUTPUT(cap, want)                                               \
  do {                                                                        \
    if (!capture_eq((cap), (want)))                                           \
      FAIL_AT(__FILE__, __LINE__, "%s: got \"%s\" (%zu bytes), want \"%s\"",  \
              #cap, capture_str(cap), (cap)->len, (want));                    \
  } while (0)

#define CHECK_CONTAINS(haystack, needle)                                      \
  do {                                                                        \
    const char *h_ = (haystack);                                              \
    if (!h_ || !strstr(h_, (needle)))                                         \
      FAIL_AT(__FILE__, __LINE__, "%s: \"%s\" does not contain \"%s\"",       \
              #haystack, h_ ? h_ : "(null)", (needle));                       \
  } while (0)

#define CHECK_NOT_CONTAINS(haystack, needle)                                  \
  do {                                                                        \
    const char *h_ = (haystack);                                              \
    if (h_ && strstr(h_, (needle)))                                           \
      FAIL_AT(__FILE__, __LINE__, "%s: \"%s\" contains \"%s\"", #haystack,    \
              h_, (needle));                                                  \
  } while (0)

void capture_init(capture *c);
void capture_clear(capture *c);
void capture_destroy(capture *c);
/* sbx_output_callback: appends to the capture. */
void capture_cb(void *user_data, const uint8_t *data, size_t len);
/* sbx_free_callback: only counts (the capture lives on the test's stack). */
void capture_free_cb(void *user_data);
const char *capture_str(const capture *c);
bool capture_eq(const capture *c, const char *want);

sbx_wasi_config *new_wasi(void);
/* Sends stdout to `out` and stderr to `err` (either may be NULL). */
void wasi_capture(sbx_wasi_config *w, capture *out, capture *err);

/*
 * Loads testdata/<fixture> with sbx_load_module_with, giving it `wasi` (may
 * be NULL: the host's) and `user_data`. Returns the status; if `err_out` is
 * NULL the error (if any) is freed here.
 */
sbx_status load_with(const sbx_host *host, const char *fixture,
                     const sbx_wasi_config *wasi, uint64_t user_data,
                     sbx_module **module_out, sbx_error **err_out);
/* load_with that must succeed; exits otherwise. */
sbx_module *must_load_with(const sbx_host *host, const char *fixture,
                           const sbx_wasi_config *wasi, uint64_t user_data);

/* ------------------------------------------------------------------ */
/* temporary directories and files                                      */

/* Removes `dir` and everything under it (errors ignored). */
void rm_rf(const char *dir);
/* Creates $TMPDIR/sbx-<what>-XXXXXX (or under /tmp) into `out`. */
void make_temp_dir(char *out, size_t cap, const char *what);
void write_file(const char *path, const char *text);
/* Reads a small host file into buf; returns false if it cannot be opened. */
bool read_file(const char *path, char *buf, size_t cap);
bool path_exists(const char *path);

/* --- host functions for the plugin guest --- */

/* What host.shout saw; the user data of the host function. */
typedef struct shout_state {
  int calls;
  int frees;
  int fail_mode; /* 0: succeed, 1: set an error and return 7, 2: return 3 */
  char last[256];
  size_t last_len;
  uint64_t user_data_seen;
  size_t stack_len_seen;
  uint64_t memory_size_seen;
  sbx_status oob_read;  /* sbx_caller_memory_read past the end */
  sbx_status oob_write; /* sbx_caller_memory_write past the end */
  sbx_status null_buf;  /* sbx_caller_memory_read with a NULL buf */
  int32_t result;       /* what shout returns on success */
} shout_state;

void shout_state_init(shout_state *s);
/* sbx_free_callback for shout_cb's user data: counts. */
void shout_free(void *user_data);
/* host.shout(i32 ptr, i32 len) -> i32: records the input, uppercases it in
 * place in guest memory, returns state->result. */
int32_t shout_cb(void *user_data, sbx_caller *caller, uint64_t *stack,
                 size_t stack_len);
extern const uint8_t I32_I32[2];
extern const uint8_t I32[1];
/* Defines host.shout on `host` with `s` as its user data. */
sbx_status define_shout(const sbx_host *host, shout_state *s,
                        sbx_error **err_out);
/* Writes `input` into the plugin's input buffer and calls greet(len). */
sbx_status greet(const sbx_module *m, const char *input, uint64_t *result_out,
                 sbx_error **err_out);

#endif /* SBX_TEST_H */
