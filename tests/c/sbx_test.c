#include "sbx_test.h"

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>

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
  sbx_status st = sbx_load_module(host, fixture,
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
      module, func, strlen(func), params, nparams, results,
      cap, n_out, timeout_ns, cancel, &err);
  return sbx_test_hand_error(st, err, err_out);
}

/* ------------------------------------------------------------------ */
/* calls                                                                */

sbx_config *new_config(void) {
  sbx_config *c = sbx_config_new();
  REQUIRE(c != NULL);
  return c;
}

/* Expects a call to fail with `want`; frees the error. */
void expect_call(const sbx_module *m, const char *func,
                 const uint64_t *params, size_t nparams, size_t cap,
                 uint64_t timeout_ns, sbx_status want) {
  uint64_t results[8] = {0};
  size_t n = 12345;
  sbx_error *err = NULL;
  REQUIRE(cap <= 8);
  sbx_status st = sbx_test_call(m, func, params, nparams, cap ? results : NULL,
                                cap, &n, timeout_ns, NULL, &err);
  CHECK_STATUS_ERR(st, want, err);
  if (want != SBX_STATUS_OK) {
    CHECK(n == 12345); /* out-params are written only on success */
    CHECK(err != NULL);
    if (err) {
      CHECK(sbx_error_message(err) != NULL);
      CHECK(sbx_error_message(err)[0] != '\0');
    }
  }
  sbx_error_free(err);
}

/* Calls a function that must succeed and return exactly one value. */
uint64_t call1(const sbx_module *m, const char *func,
               const uint64_t *params, size_t nparams) {
  uint64_t result = 0xdeadbeef;
  size_t n = 0;
  sbx_error *err = NULL;
  sbx_status st =
      sbx_test_call(m, func, params, nparams, &result, 1, &n, 0, NULL, &err);
  if (!CHECK_STATUS_ERR(st, SBX_STATUS_OK, err)) {
    sbx_error_free(err);
    return 0xdeadbeef;
  }
  CHECK(n == 1);
  return result;
}

void capture_init(capture *c) { memset(c, 0, sizeof *c); }

void capture_clear(capture *c) {
  c->len = 0;
  if (c->data) c->data[0] = '\0';
}

void capture_destroy(capture *c) {
  free(c->data);
  c->data = NULL;
  c->len = c->cap = 0;
}

/* sbx_output_callback: appends to the capture. */
void capture_cb(void *user_data, const uint8_t *data, size_t len) {
  capture *c = user_data;
  c->callbacks++;
  if (c->len + len + 1 > c->cap) {
    size_t cap = c->cap ? c->cap : 256;
    while (cap < c->len + len + 1) cap *= 2;
    char *bigger = realloc(c->data, cap);
    REQUIRE(bigger != NULL);
    c->data = bigger;
    c->cap = cap;
  }
  if (len) memcpy(c->data + c->len, data, len);
  c->len += len;
  c->data[c->len] = '\0';
}

/* sbx_free_callback: only counts (the capture lives on the test's stack). */
void capture_free_cb(void *user_data) { ((capture *)user_data)->frees++; }

const char *capture_str(const capture *c) {
  return c->data ? c->data : "";
}

bool capture_eq(const capture *c, const char *want) {
  size_t n = strlen(want);
  return c->len == n && memcmp(capture_str(c), want, n) == 0;
}

const uint8_t *u8(const char *s) { return (const uint8_t *)s; }

sbx_wasi_config *new_wasi(void) {
  sbx_wasi_config *w = sbx_wasi_config_new();
  REQUIRE(w != NULL);
  return w;
}

/* Sends stdout to `out` and stderr to `err` (either may be NULL). */
void wasi_capture(sbx_wasi_config *w, capture *out, capture *err) {
  if (out)
    CHECK_STATUS(sbx_wasi_config_set_stdout(w, capture_cb, out, capture_free_cb),
                 SBX_STATUS_OK);
  if (err)
    CHECK_STATUS(sbx_wasi_config_set_stderr(w, capture_cb, err, capture_free_cb),
                 SBX_STATUS_OK);
}

/*
 * Loads testdata/<fixture> with sbx_load_module_with, giving it `wasi` (may
 * be NULL: the host's) and `user_data`. Returns the status; if `err_out` is
 * NULL the error (if any) is freed here.
 */
sbx_status load_with(const sbx_host *host, const char *fixture,
                     const sbx_wasi_config *wasi, uint64_t user_data,
                     sbx_module **module_out, sbx_error **err_out) {
  size_t len = 0;
  uint8_t *wasm = sbx_test_read_fixture(fixture, &len);
  sbx_load_options *opts = sbx_load_options_new();
  REQUIRE(opts != NULL);
  if (wasi) CHECK_STATUS(sbx_load_options_set_wasi(opts, wasi), SBX_STATUS_OK);
  CHECK_STATUS(sbx_load_options_set_user_data(opts, user_data), SBX_STATUS_OK);
  sbx_error *err = NULL;
  sbx_status st = sbx_load_module_with(host, fixture, strlen(fixture),
                                       wasm, len, opts, module_out, &err);
  sbx_load_options_free(opts);
  free(wasm);
  return sbx_test_hand_error(st, err, err_out);
}

sbx_module *must_load_with(const sbx_host *host, const char *fixture,
                           const sbx_wasi_config *wasi,
                           uint64_t user_data) {
  sbx_module *m = NULL;
  sbx_error *err = NULL;
  sbx_status st = load_with(host, fixture, wasi, user_data, &m, &err);
  if (st != SBX_STATUS_OK) {
    fprintf(stderr, "loading %s: %s: %s\n", fixture, sbx_status_name(st),
            err ? sbx_error_message(err) : "(no error)");
    sbx_error_free(err);
    exit(1);
  }
  REQUIRE(m != NULL);
  return m;
}

/* --- temporary directories --- */

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void rm_rf(const char *dir) {
  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates a unique directory $TMPDIR/sbx-<what>-XXXXXX into `out`. */
void make_temp_dir(char *out, size_t cap, const char *what) {
  const char *tmp = getenv("TMPDIR");
  snprintf(out, cap, "%s/sbx-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", what);
  REQUIRE(mkdtemp(out) != NULL);
}

void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  REQUIRE(f != NULL);
  REQUIRE(fwrite(text, 1, strlen(text), f) == strlen(text));
  REQUIRE(fclose(f) == 0);
}

/* Reads a small host file into buf; returns false if it cannot be opened. */
bool read_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
  return true;
}

bool path_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

void shout_state_init(shout_state *s) {
  memset(s, 0, sizeof *s);
  s->oob_read = s->oob_write = s->null_buf = (sbx_status)12345;
  s->result = 41;
}

void shout_free(void *user_data) { ((shout_state *)user_data)->frees++; }

/* host.shout(i32 ptr, i32 len) -> i32: records the input, uppercases it in
 * place in guest memory, returns state->result. */
int32_t shout_cb(void *user_data, sbx_caller *caller, uint64_t *stack,
                 size_t stack_len) {
  shout_state *s = user_data;
  s->calls++;
  s->stack_len_seen = stack_len;
  if (stack_len < 2) return 1;
  CHECK_STATUS(sbx_caller_user_data(caller, &s->user_data_seen),
               SBX_STATUS_OK);
  if (s->fail_mode == 1) {
    static const char msg[] = "shout refused: too loud";
    CHECK_STATUS(sbx_caller_set_error(caller, msg, sizeof msg - 1),
                 SBX_STATUS_OK);
    return 7;
  }
  if (s->fail_mode == 2) return 3;

  uint32_t ptr = (uint32_t)stack[0];
  uint32_t len = (uint32_t)stack[1];
  CHECK_STATUS(sbx_caller_memory_size(caller, &s->memory_size_seen),
               SBX_STATUS_OK);
  if (len >= sizeof s->last) return 2;
  CHECK_STATUS(sbx_caller_memory_read(caller, ptr, (uint8_t *)s->last, len),
               SBX_STATUS_OK);
  s->last[len] = '\0';
  s->last_len = len;

  char upper[256];
  for (uint32_t i = 0; i < len; i++)
    upper[i] = (s->last[i] >= 'a' && s->last[i] <= 'z') ? s->last[i] - 32
                                                        : s->last[i];
  CHECK_STATUS(sbx_caller_memory_write(caller, ptr, (const uint8_t *)upper,
                                       len),
               SBX_STATUS_OK);

  uint8_t two[2] = {0xAA, 0xAA};
  s->oob_read = sbx_caller_memory_read(caller, s->memory_size_seen - 1, two, 2);
  CHECK(two[0] == 0xAA && two[1] == 0xAA);
  s->oob_write =
      sbx_caller_memory_write(caller, s->memory_size_seen - 1, two, 2);
  s->null_buf = sbx_caller_memory_read(caller, 0, NULL, 4);

  stack[0] = (uint64_t)(uint32_t)s->result;
  return 0;
}

const uint8_t I32_I32[2] = {SBX_VALUE_TYPE_I32, SBX_VALUE_TYPE_I32};
const uint8_t I32[1] = {SBX_VALUE_TYPE_I32};

sbx_status define_shout(const sbx_host *host, shout_state *s,
                        sbx_error **err_out) {
  return sbx_host_define_func(host, "host", 4, "shout", 5, I32_I32, 2,
                              I32, 1, shout_cb, s, shout_free, err_out);
}

/* Writes `input` into the plugin's input buffer and calls greet(len). */
sbx_status greet(const sbx_module *m, const char *input,
                 uint64_t *result_out, sbx_error **err_out) {
  uint64_t addr = 0;
  size_t n = 0;
  sbx_error *err = NULL;
  sbx_status st =
      sbx_test_call(m, "input_buffer", NULL, 0, &addr, 1, &n, 0, NULL, &err);
  if (st != SBX_STATUS_OK) {
    CHECK_STATUS_ERR(st, SBX_STATUS_OK, err);
    sbx_error_free(err);
    return st;
  }
  CHECK(n == 1);
  addr = (uint32_t)addr;
  CHECK(addr != 0);
  CHECK_STATUS(sbx_module_memory_write(m, addr, u8(input), strlen(input)),
               SBX_STATUS_OK);
  uint64_t len = strlen(input);
  uint64_t result = 0;
  st = sbx_test_call(m, "greet", &len, 1, &result, 1, &n, MS_TO_NS(60000),
                     NULL, err_out);
  if (st == SBX_STATUS_OK) {
    CHECK(n == 1);
    if (result_out) *result_out = (uint32_t)result;
  }
  return st;
}

/* ------------------------------------------------------------------ */
/* the runner                                                           */

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < sbx_tests_count; i++) {
      const sbx_test_case *t = &sbx_tests[i];
      printf("%s%s%s\n", t->name, t->flags & SBX_TEST_SERIAL ? " serial" : "",
             t->flags & SBX_TEST_CRASH ? " crash" : "");
    }
    return 0;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: %s <test>|--list|all\n", argv[0]);
    return 2;
  }
  bool all = strcmp(argv[1], "all") == 0;
  bool found = false;
  for (size_t i = 0; i < sbx_tests_count; i++) {
    const sbx_test_case *t = &sbx_tests[i];
    /* "all" skips the tests that die on purpose. */
    if ((all && !(t->flags & SBX_TEST_CRASH)) || strcmp(argv[1], t->name) == 0) {
      found = true;
      printf("=== %s\n", t->name);
      t->run();
    }
  }
  if (!found) {
    fprintf(stderr, "no test named %s\n", argv[1]);
    return 2;
  }
  if (sbx_test_failures) {
    fprintf(stderr, "%d check(s) failed\n", sbx_test_failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
