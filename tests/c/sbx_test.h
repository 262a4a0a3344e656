/*
 * Helpers shared by the C tests of sbx: fixture loading, status checks that
 * print the status name and error message, and a monotonic clock.
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

/* A named test: `sbx_c_tests <name>` runs it. */
typedef struct sbx_test_case {
  const char *name;
  void (*run)(void);
} sbx_test_case;

/* The WASI, host-function and guest-memory tests (test_wasi.c). */
extern const sbx_test_case sbx_wasi_tests[];
extern const size_t sbx_wasi_tests_count;

#endif /* SBX_TEST_H */
