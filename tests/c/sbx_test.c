#include "sbx_test.h"

#include <errno.h>

int sbx_test_failures = 0;

/* Every message is one line; the backtrace has its own accessor. */
static void check_one_line(const char *file, int line, const sbx_error *err) {
  const char *m = err ? sbx_error_message(err) : NULL;
  if (m && strpbrk(m, "\r\n"))
    FAIL_AT(file, line, "message is not one line: %s", m);
}

bool sbx_test_check_status(const char *file, int line, const char *expr,
                           sbx_status got, sbx_status want,
                           const sbx_error *err) {
  check_one_line(file, line, err);
  if (got == want) return true;
  FAIL_AT(file, line, "%s: got %s (%u), want %s (%u)%s%s", expr,
          sbx_status_name((uint32_t)got), (unsigned)got,
          sbx_status_name((uint32_t)want), (unsigned)want,
          err ? "; message: " : "",
          err && sbx_error_message(err) ? sbx_error_message(err) : "");
  return false;
}

uint8_t *sbx_test_read_fixture(const char *name, size_t *len_out) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", SBX_TESTDATA_DIR, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open fixture %s: %s\n", path, strerror(errno));
    exit(1);
  }
  size_t cap = 4096, len = 0;
  uint8_t *buf = malloc(cap);
  REQUIRE(buf != NULL);
  for (;;) {
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (len < cap) break;
    cap *= 2;
    uint8_t *bigger = realloc(buf, cap);
    REQUIRE(bigger != NULL);
    buf = bigger;
  }
  REQUIRE(!ferror(f));
  fclose(f);
  *len_out = len;
  return buf;
}

double sbx_test_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void sbx_test_sleep_ms(unsigned ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

sbx_host *sbx_test_host(const sbx_config *config) {
  sbx_host *host = NULL;
  sbx_error *err = NULL;
  sbx_status st = sbx_host_new(config, &host, &err);
  if (st != SBX_STATUS_OK) {
    fprintf(stderr, "sbx_host_new: %s: %s\n", sbx_status_name(st),
            err ? sbx_error_message(err) : "(no error)");
    sbx_error_free(err);
    exit(1);
  }
  REQUIRE(host != NULL);
  REQUIRE(err == NULL);
  return host;
}

sbx_status sbx_test_hand_error(sbx_status st, sbx_error *err,
                               sbx_error **err_out) {
  /* The error out-param is written only on failure, with the same status. */
  if (st == SBX_STATUS_OK) CHECK(err == NULL);
  if (st != SBX_STATUS_OK) CHECK(err != NULL && sbx_error_status(err) == st);
  check_one_line(__FILE__, __LINE__, err);
  if (err_out)
    *err_out = err;
  else
    sbx_error_free(err);
  return st;
}

sbx_status sbx_test_load(const sbx_host *host, const char *fixture,
                         sbx_module **module_out, sbx_error **err_out) {
  size_t len = 0;
  uint8_t *wasm = sbx_test_read_fixture(fixture, &len);
  sbx_error *err = NULL;
  sbx_status st = sbx_load_module(host, (const uint8_t *)fixture,
                                  strlen(fixture), wasm, len, 0, NULL,
                                  module_out, &err);
  free(wasm);
  return sbx_test_hand_error(st, err, err_out);
}

sbx_module *sbx_test_must_load(const sbx_host *host, const char *fixture) {
  sbx_module *module = NULL;
  sbx_error *err = NULL;
  sbx_status st = sbx_test_load(host, fixture, &module, &err);
  if (st != SBX_STATUS_OK) {
    fprintf(stderr, "loading %s: %s: %s\n", fixture, sbx_status_name(st),
            err ? sbx_error_message(err) : "(no error)");
    sbx_error_free(err);
    exit(1);
  }
  REQUIRE(module != NULL);
  return module;
}

sbx_status sbx_test_call(const sbx_module *module, const char *func,
                         const uint64_t *params, size_t nparams,
                         uint64_t *results, size_t cap, size_t *n_out,
                         uint64_t timeout_ns, const sbx_cancel *cancel,
                         sbx_error **err_out) {
  sbx_error *err = NULL;
  sbx_status st = sbx_call_with_timeout(
      module, (const uint8_t *)func, strlen(func), params, nparams, results,
      cap, n_out, timeout_ns, cancel, &err);
  return sbx_test_hand_error(st, err, err_out);
}
