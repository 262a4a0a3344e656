/*
 * The C tests of sbx. One executable, one test per name:
 *   sbx_c_tests <name>   runs one test (ctest registers each separately)
 *   sbx_c_tests --list   prints the names
 * Each test exits 0 on success and non-zero on the first fatal failure or
 * after any non-fatal CHECK failed.
 */
#include "sbx_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

static sbx_config *new_config(void) {
  sbx_config *c = sbx_config_new();
  REQUIRE(c != NULL);
  return c;
}

/* Expects a call to fail with `want`; frees the error. */
static void expect_call(const sbx_module *m, const char *func,
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
static uint64_t call1(const sbx_module *m, const char *func,
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

static sbx_status load_bytes(const sbx_host *host, const char *name,
                             size_t name_len, const uint8_t *wasm,
                             size_t wasm_len, sbx_module **out,
                             sbx_error **err_out) {
  return sbx_load_module(host, (const uint8_t *)name, name_len, wasm,
                         wasm_len, 0, NULL, out, err_out);
}

/* ------------------------------------------------------------------ */
/* tests                                                                */

static void test_version(void) {
  const char *v = sbx_version();
  REQUIRE(v != NULL);
  CHECK(v[0] != '\0');
  printf("sbx version %s\n", v);
}

static void test_load_and_call(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *m = sbx_test_must_load(host, "add.wasm");
  uint64_t params[2] = {2, 3};
  CHECK(call1(m, "add", params, 2) == 5);

  /* The module's name round-trips. */
  const char *name = NULL;
  size_t name_len = 0;
  CHECK_STATUS(sbx_module_name(m, &name, &name_len), SBX_STATUS_OK);
  REQUIRE(name != NULL);
  CHECK(name_len == strlen("add.wasm"));
  CHECK(strcmp(name, "add.wasm") == 0);
  CHECK_STATUS(sbx_module_name(m, &name, NULL), SBX_STATUS_OK);

  /* Without fuel metering the fuel used is 0. */
  uint64_t fuel = 99;
  CHECK_STATUS(sbx_module_last_call_fuel(m, &fuel), SBX_STATUS_OK);
  CHECK(fuel == 0);

  /* results_len_out may be NULL; the error out-param may be NULL. */
  uint64_t r = 0;
  CHECK_STATUS(sbx_call_with_timeout(m, (const uint8_t *)"add", 3, params, 2,
                                     &r, 1, NULL, 0, NULL, NULL),
               SBX_STATUS_OK);
  CHECK(r == 5);
  /* i32 wrap-around. */
  uint64_t wrap[2] = {0xffffffffu, 2};
  CHECK(call1(m, "add", wrap, 2) == 1);

  sbx_module_free(m);
  sbx_close(host);
}

static void test_isolation(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *a = sbx_test_must_load(host, "counter.wasm");
  sbx_module *b = sbx_test_must_load(host, "counter.wasm");
  CHECK(call1(a, "inc", NULL, 0) == 1);
  CHECK(call1(a, "inc", NULL, 0) == 2);
  CHECK(call1(b, "get", NULL, 0) == 0);
  CHECK(call1(b, "inc", NULL, 0) == 1);
  CHECK(call1(a, "get", NULL, 0) == 2);
  sbx_module_free(a);
  sbx_module_free(b);
  sbx_close(host);
}

static void test_timeout(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *loop = sbx_test_must_load(host, "infinite_loop.wasm");
  sbx_module *add = sbx_test_must_load(host, "add.wasm");
  for (int i = 0; i < 2; i++) {
    sbx_error *err = NULL;
    double t0 = sbx_test_now_ms();
    sbx_status st = sbx_test_call(loop, "loop", NULL, 0, NULL, 0, NULL,
                                  MS_TO_NS(50), NULL, &err);
    double took = sbx_test_now_ms() - t0;
    CHECK_STATUS_ERR(st, SBX_STATUS_TIMEOUT, err);
    CHECK(sbx_error_trap_code(err) == SBX_TRAP_CODE_NONE);
    printf("call %d timed out after %.1f ms\n", i + 1, took);
    CHECK(took >= 40.0); /* never early */
    CHECK(took < SBX_SLOW_BOUND_MS);
    sbx_error_free(err);
  }
  /* Other modules are unaffected, and the host default timeout applies. */
  uint64_t params[2] = {40, 2};
  CHECK(call1(add, "add", params, 2) == 42);
  sbx_module_free(loop);
  sbx_module_free(add);
  sbx_close(host);

  /* A host-wide exec timeout applies to calls that pass 0. */
  sbx_config *config = new_config();
  CHECK_STATUS(sbx_config_set_exec_timeout_ns(config, MS_TO_NS(50)),
               SBX_STATUS_OK);
  host = sbx_test_host(config);
  sbx_config_free(config);
  loop = sbx_test_must_load(host, "infinite_loop.wasm");
  double t0 = sbx_test_now_ms();
  expect_call(loop, "loop", NULL, 0, 0, 0, SBX_STATUS_TIMEOUT);
  CHECK(sbx_test_now_ms() - t0 < SBX_SLOW_BOUND_MS);
  sbx_module_free(loop);
  sbx_close(host);
}

static void test_load_timeout(void) {
  sbx_host *host = sbx_test_host(NULL);
  size_t len = 0;
  uint8_t *wasm = sbx_test_read_fixture("start_loop.wasm", &len);
  sbx_module *m = NULL;
  sbx_error *err = NULL;
  double t0 = sbx_test_now_ms();
  sbx_status st = sbx_load_module(host, (const uint8_t *)"start_loop", 10,
                                  wasm, len, MS_TO_NS(100), NULL, &m, &err);
  double took = sbx_test_now_ms() - t0;
  CHECK_STATUS_ERR(st, SBX_STATUS_TIMEOUT, err);
  CHECK(m == NULL);
  printf("load timed out after %.1f ms\n", took);
  /* Compilation counts against the deadline, so be generous here. */
  CHECK(took < 10.0 * SBX_SLOW_BOUND_MS);
  sbx_error_free(err);
  free(wasm);

  /* The host still loads modules. */
  sbx_module *add = sbx_test_must_load(host, "add.wasm");
  uint64_t params[2] = {2, 3};
  CHECK(call1(add, "add", params, 2) == 5);
  sbx_module_free(add);
  sbx_close(host);
}

/*
 * One exported function "run" of `depth` nested empty loops: small, and
 * seconds to compile (issue 8). Built here; the caller frees it.
 */
static uint8_t *nested_loops(size_t depth, size_t *len_out) {
  size_t body_len = 1 + 3 * depth + 1; /* locals, loops and ends, end */
  size_t cap = 64 + body_len;
  uint8_t *w = malloc(cap);
  REQUIRE(w != NULL);
  size_t n = 0;
  static const uint8_t head[] = {
      0, 'a', 's', 'm', 1, 0, 0, 0,
      1, 4, 1, 0x60, 0, 0,                /* type 0: [] -> [] */
      3, 2, 1, 0,                         /* function 0: type 0 */
      7, 7, 1, 3, 'r', 'u', 'n', 0, 0,    /* export "run" */
  };
  memcpy(w, head, sizeof head);
  n = sizeof head;
  uint8_t body_leb[5], code_leb[5];
  size_t body_leb_len = 0, code_leb_len = 0;
  for (size_t v = body_len;; ) {
    body_leb[body_leb_len++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    if ((v >>= 7) == 0) break;
  }
  for (size_t v = 1 + body_leb_len + body_len;; ) {
    code_leb[code_leb_len++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    if ((v >>= 7) == 0) break;
  }
  w[n++] = 10; /* code section */
  memcpy(w + n, code_leb, code_leb_len);
  n += code_leb_len;
  w[n++] = 1; /* one body */
  memcpy(w + n, body_leb, body_leb_len);
  n += body_leb_len;
  w[n++] = 0; /* no locals */
  for (size_t i = 0; i < depth; i++) {
    w[n++] = 0x03; /* loop */
    w[n++] = 0x40; /* empty block type */
  }
  for (size_t i = 0; i <= depth; i++) w[n++] = 0x0b; /* end */
  REQUIRE(n <= cap);
  *len_out = n;
  return w;
}

/* A load still compiling at its deadline returns TIMEOUT at once; the
 * abandoned compile then fills the host's cap, and closing the host does
 * not wait for it. */
static void test_compile_timeout(void) {
  sbx_config *config = new_config();
  CHECK_STATUS(sbx_config_set_max_abandoned_compiles(config, 0),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_config_set_max_abandoned_compiles(config, 1),
               SBX_STATUS_OK);
  sbx_host *host = sbx_test_host(config);
  sbx_config_free(config);

  size_t len = 0;
  uint8_t *bomb = nested_loops(10000, &len);
  sbx_load_options *opts = sbx_load_options_new();
  REQUIRE(opts != NULL);
  CHECK_STATUS(sbx_load_options_timeout_ns(opts, MS_TO_NS(300)),
               SBX_STATUS_OK);
  sbx_module *m = NULL;
  sbx_error *err = NULL;
  double t0 = sbx_test_now_ms();
  sbx_status st = sbx_load_module_with(host, (const uint8_t *)"bomb", 4, bomb,
                                       len, opts, &m, &err);
  double took = sbx_test_now_ms() - t0;
  CHECK_STATUS_ERR(st, SBX_STATUS_TIMEOUT, err);
  CHECK(m == NULL);
  printf("compile timed out after %.1f ms\n", took);
  CHECK(took >= 300.0 && took < 300.0 + SBX_SLOW_BOUND_MS);
  sbx_error_free(err);
  sbx_load_options_free(opts);
  free(bomb);

  /* The abandoned compile still runs: a load that needs one is refused. */
  size_t add_len = 0;
  uint8_t *add = sbx_test_read_fixture("add.wasm", &add_len);
  err = NULL;
  st = sbx_load_module(host, (const uint8_t *)"add", 3, add, add_len,
                       SBX_TIMEOUT_NONE, NULL, &m, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_INSTANCE_LIMIT, err);
  CHECK(err != NULL &&
        strstr(sbx_error_message(err), "max_abandoned_compiles") != NULL);
  sbx_error_free(err);
  free(add);

  t0 = sbx_test_now_ms();
  sbx_close(host);
  CHECK(sbx_test_now_ms() - t0 < SBX_SLOW_BOUND_MS);
}

static void test_bad_names(void) {
  sbx_host *host = sbx_test_host(NULL);
  size_t len = 0;
  uint8_t *wasm = sbx_test_read_fixture("add.wasm", &len);
  struct {
    const char *name;
    size_t len;
  } bad[] = {
      {"", 0},
      {" ", 1},
      {" \t\n\r ", 5},
      {"\xff\xfe", 2},         /* not UTF-8 */
      {"ab\xc3", 3},           /* truncated UTF-8 sequence */
      {"\xed\xa0\x80", 3},     /* an encoded surrogate: not UTF-8 */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sbx_module *m = NULL;
    sbx_error *err = NULL;
    sbx_status st = load_bytes(host, bad[i].name, bad[i].len, wasm, len, &m,
                               &err);
    if (!CHECK_STATUS_ERR(st, SBX_STATUS_INVALID_ARGUMENT, err))
      fprintf(stderr, "  (bad name #%zu)\n", i);
    CHECK(m == NULL);
    CHECK(err != NULL);
    CHECK(sbx_error_status(err) == SBX_STATUS_INVALID_ARGUMENT);
    CHECK(sbx_error_message(err) && sbx_error_message(err)[0]);
    CHECK(sbx_error_trap_code(err) == SBX_TRAP_CODE_NONE);
    sbx_error_free(err);
    sbx_module_free(m);
  }
  /* A name with inner spaces and non-ASCII UTF-8 is fine. */
  sbx_module *m = NULL;
  const char *ok = " plug-in \xc3\xa9t\xc3\xa9 ";
  CHECK_STATUS(load_bytes(host, ok, strlen(ok), wasm, len, &m, NULL),
               SBX_STATUS_OK);
  if (m) {
    const char *name = NULL;
    size_t name_len = 0;
    CHECK_STATUS(sbx_module_name(m, &name, &name_len), SBX_STATUS_OK);
    CHECK(name_len == strlen(ok) && memcmp(name, ok, name_len) == 0);
  }
  sbx_module_free(m);
  free(wasm);
  sbx_close(host);
}

static void test_compile_error(void) {
  sbx_host *host = sbx_test_host(NULL);
  static const uint8_t garbage[] = "this is not webassembly";
  static const uint8_t bad_version[] = {0x00, 0x61, 0x73, 0x6d,
                                        0x02, 0x00, 0x00, 0x00};
  static const uint8_t truncated[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00};
  struct {
    const uint8_t *bytes;
    size_t len;
  } bad[] = {{garbage, sizeof garbage - 1},
             {bad_version, sizeof bad_version},
             {truncated, sizeof truncated},
             {garbage, 0}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sbx_module *m = NULL;
    sbx_error *err = NULL;
    sbx_status st =
        load_bytes(host, "bad", 3, bad[i].bytes, bad[i].len, &m, &err);
    if (!CHECK_STATUS_ERR(st, SBX_STATUS_COMPILE_ERROR, err))
      fprintf(stderr, "  (bad bytes #%zu)\n", i);
    CHECK(m == NULL);
    CHECK(err && sbx_error_message(err) && sbx_error_message(err)[0]);
    if (i == 0 && err) printf("compile error: %s\n", sbx_error_message(err));
    sbx_error_free(err);
  }
  /* The error out-param is optional. */
  sbx_module *m = NULL;
  CHECK_STATUS(load_bytes(host, "bad", 3, garbage, sizeof garbage - 1, &m,
                          NULL),
               SBX_STATUS_COMPILE_ERROR);
  CHECK(m == NULL);
  sbx_close(host);
}

static void test_link_error(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *m = NULL;
  sbx_error *err = NULL;
  sbx_status st = sbx_test_load(host, "unresolved_import.wasm", &m, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_LINK_ERROR, err);
  CHECK(m == NULL);
  REQUIRE(err != NULL);
  const char *msg = sbx_error_message(err);
  REQUIRE(msg != NULL);
  printf("link error: %s\n", msg);
  CHECK(strstr(msg, "missing_function") != NULL);
  sbx_error_free(err);
  sbx_close(host);
}

static void test_export_not_found(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *add = sbx_test_must_load(host, "add.wasm");
  sbx_module *all = sbx_test_must_load(host, "all_types.wasm");
  uint64_t params[2] = {1, 2};
  expect_call(add, "nope", params, 2, 1, 0, SBX_STATUS_EXPORT_NOT_FOUND);
  expect_call(add, "ad", params, 2, 1, 0, SBX_STATUS_EXPORT_NOT_FOUND);
  expect_call(add, "add ", params, 2, 1, 0, SBX_STATUS_EXPORT_NOT_FOUND);
  /* Exports that are not functions. */
  expect_call(all, "memory", NULL, 0, 1, 0, SBX_STATUS_EXPORT_NOT_FOUND);
  expect_call(all, "answer", NULL, 0, 1, 0, SBX_STATUS_EXPORT_NOT_FOUND);
  expect_call(all, "table", NULL, 0, 1, 0, SBX_STATUS_EXPORT_NOT_FOUND);
  /* A name that is not UTF-8 cannot name an export. */
  sbx_error *err = NULL;
  sbx_status st = sbx_call_with_timeout(add, (const uint8_t *)"\xff", 1,
                                        params, 2, NULL, 0, NULL, 0, NULL,
                                        &err);
  CHECK(st == SBX_STATUS_EXPORT_NOT_FOUND ||
        st == SBX_STATUS_INVALID_ARGUMENT);
  CHECK(err != NULL);
  sbx_error_free(err);
  sbx_module_free(add);
  sbx_module_free(all);
  sbx_close(host);
}

static void test_signature_mismatch(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *add = sbx_test_must_load(host, "add.wasm");
  sbx_module *all = sbx_test_must_load(host, "all_types.wasm");
  uint64_t params[3] = {1, 2, 3};
  expect_call(add, "add", params, 1, 1, 0, SBX_STATUS_SIGNATURE_MISMATCH);
  expect_call(add, "add", params, 3, 1, 0, SBX_STATUS_SIGNATURE_MISMATCH);
  expect_call(add, "add", NULL, 0, 1, 0, SBX_STATUS_SIGNATURE_MISMATCH);
  /* results buffer too small */
  expect_call(add, "add", params, 2, 0, 0, SBX_STATUS_SIGNATURE_MISMATCH);
  uint64_t swap_params[2] = {1, 2};
  expect_call(all, "swap", swap_params, 2, 1, 0,
              SBX_STATUS_SIGNATURE_MISMATCH);
  /* types that cannot cross as uint64_t */
  uint64_t v = 0;
  expect_call(all, "v128_param", &v, 1, 0, 0, SBX_STATUS_SIGNATURE_MISMATCH);
  expect_call(all, "funcref_result", NULL, 0, 1, 0,
              SBX_STATUS_SIGNATURE_MISMATCH);
  /* A bigger results buffer than needed is fine. */
  uint64_t results[4] = {0};
  size_t n = 0;
  CHECK_STATUS(sbx_test_call(add, "add", params, 2, results, 4, &n, 0, NULL,
                             NULL),
               SBX_STATUS_OK);
  CHECK(n == 1 && results[0] == 3);
  sbx_module_free(add);
  sbx_module_free(all);
  sbx_close(host);
}

static void test_traps(void) {
  static const struct {
    const char *fixture;
    const char *func;
    size_t nparams;
    uint8_t code;
  } cases[] = {
      {"trap_unreachable.wasm", "run", 0, SBX_TRAP_CODE_UNREACHABLE},
      {"trap_memory_out_of_bounds.wasm", "run", 0,
       SBX_TRAP_CODE_MEMORY_OUT_OF_BOUNDS},
      {"trap_divide_by_zero.wasm", "run", 1,
       SBX_TRAP_CODE_INTEGER_DIVISION_BY_ZERO},
      {"trap_integer_overflow.wasm", "run", 0,
       SBX_TRAP_CODE_INTEGER_OVERFLOW},
      {"trap_bad_conversion.wasm", "run", 0,
       SBX_TRAP_CODE_BAD_CONVERSION_TO_INTEGER},
      {"trap_indirect_call_to_null.wasm", "run", 0,
       SBX_TRAP_CODE_INDIRECT_CALL_TO_NULL},
      {"trap_indirect_call_type_mismatch.wasm", "run", 0,
       SBX_TRAP_CODE_BAD_SIGNATURE},
      {"trap_table_out_of_bounds.wasm", "run", 0,
       SBX_TRAP_CODE_TABLE_OUT_OF_BOUNDS},
      {"stack_bomb.wasm", "recurse", 1, SBX_TRAP_CODE_STACK_OVERFLOW},
  };
  sbx_host *host = sbx_test_host(NULL);
  int backtraces = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sbx_module *m = sbx_test_must_load(host, cases[i].fixture);
    uint64_t params[1] = {0};
    uint64_t results[2];
    /* Twice: a trapped module stays usable. */
    for (int round = 0; round < 2; round++) {
      sbx_error *err = NULL;
      sbx_status st = sbx_test_call(m, cases[i].func, params,
                                    cases[i].nparams, results, 2, NULL, 0,
                                    NULL, &err);
      if (!CHECK_STATUS_ERR(st, SBX_STATUS_TRAP, err)) {
        fprintf(stderr, "  (fixture %s)\n", cases[i].fixture);
        sbx_error_free(err);
        continue;
      }
      REQUIRE(err != NULL);
      uint8_t code = sbx_error_trap_code(err);
      if (code != cases[i].code) {
        FAIL_AT(__FILE__, __LINE__, "%s: trap code %u (%s), want %u (%s)",
                cases[i].fixture, code, sbx_trap_code_name(code),
                cases[i].code, sbx_trap_code_name(cases[i].code));
      }
      const char *msg = sbx_error_message(err);
      const char *bt = sbx_error_backtrace(err);
      CHECK(msg != NULL && msg[0] != '\0');
      CHECK(msg == NULL || strchr(msg, '\n') == NULL); /* one line */
      CHECK(bt != NULL);
      if (bt && bt[0]) backtraces++;
      if (round == 0)
        printf("%s: %s [%s]\n  backtrace: %s\n", cases[i].fixture, msg,
               sbx_trap_code_name(code), bt ? bt : "(null)");
      sbx_error_free(err);
    }
    sbx_module_free(m);
  }
  CHECK(backtraces > 0);

  /* trap_divide_by_zero with a non-zero divisor succeeds. */
  sbx_module *div = sbx_test_must_load(host, "trap_divide_by_zero.wasm");
  uint64_t one = 1;
  CHECK(call1(div, "run", &one, 1) == 1);
  sbx_module_free(div);
  sbx_close(host);
}

static void test_fuel(void) {
  sbx_config *config = new_config();
  CHECK_STATUS(sbx_config_set_fuel(config, 10000), SBX_STATUS_OK);
  sbx_host *host = sbx_test_host(config);
  sbx_config_free(config);
  sbx_module *loop = sbx_test_must_load(host, "infinite_loop.wasm");
  sbx_module *fib = sbx_test_must_load(host, "fib.wasm");

  for (int i = 0; i < 2; i++) {
    sbx_error *err = NULL;
    sbx_status st =
        sbx_test_call(loop, "loop", NULL, 0, NULL, 0, NULL, 0, NULL, &err);
    CHECK_STATUS_ERR(st, SBX_STATUS_FUEL_EXHAUSTED, err);
    sbx_error_free(err);
  }
  uint64_t n = 10;
  CHECK(call1(fib, "fib", &n, 1) == 55);
  uint64_t fuel = 0;
  CHECK_STATUS(sbx_module_last_call_fuel(fib, &fuel), SBX_STATUS_OK);
  printf("fib(10) used %llu fuel\n", (unsigned long long)fuel);
  CHECK(fuel > 0);
  CHECK(fuel <= 10000);
  /* Each call gets a fresh budget: fib(10) again works. */
  CHECK(call1(fib, "fib", &n, 1) == 55);
  /* fib(25) needs far more than 10000 units. */
  uint64_t big = 25;
  expect_call(fib, "fib", &big, 1, 1, 0, SBX_STATUS_FUEL_EXHAUSTED);
  CHECK(call1(fib, "fib", &n, 1) == 55);
  sbx_module_free(loop);
  sbx_module_free(fib);
  sbx_close(host);
}

static void test_memory_limit(void) {
  sbx_config *config = new_config();
  CHECK_STATUS(sbx_config_set_memory_limit(config, 1 << 20), SBX_STATUS_OK);
  sbx_host *host = sbx_test_host(config);
  sbx_config_free(config);
  sbx_module *bomb = sbx_test_must_load(host, "memory_bomb.wasm");
  CHECK(call1(bomb, "grow_all", NULL, 0) == 16);
  uint64_t one = 1;
  CHECK(call1(bomb, "grow", &one, 1) == 0xffffffffu); /* -1 as i32 */
  sbx_module_free(bomb);
  /* big_memory (300 MiB initial) also fails under this 1 MiB limit. */
  sbx_module *m = NULL;
  sbx_error *err = NULL;
  CHECK_STATUS_ERR(sbx_test_load(host, "big_memory.wasm", &m, &err),
                   SBX_STATUS_RESOURCE_LIMIT, err);
  sbx_error_free(err);
  sbx_close(host);

  /* Under the default 256 MiB limit big_memory still fails to load. */
  host = sbx_test_host(NULL);
  m = NULL;
  err = NULL;
  CHECK_STATUS_ERR(sbx_test_load(host, "big_memory.wasm", &m, &err),
                   SBX_STATUS_RESOURCE_LIMIT, err);
  CHECK(m == NULL);
  CHECK(err && sbx_error_message(err) && sbx_error_message(err)[0]);
  sbx_error_free(err);
  sbx_close(host);
}

/* The memory limit bounds the sum of a module's memories (multi_memory has
 * four, 1 + 1 + 0 + 0 pages), and a limit between pages allows the pages
 * below it. */
static void test_memory_limit_is_per_module(void) {
  sbx_config *config = new_config();
  CHECK_STATUS(sbx_config_set_memory_limit(config, (1 << 20) + (100 << 10)),
               SBX_STATUS_OK);
  sbx_host *host = sbx_test_host(config);
  sbx_config_free(config);
  sbx_module *m = sbx_test_must_load(host, "multi_memory.wasm");
  CHECK(call1(m, "grow_all", NULL, 0) == 17); /* 1 MiB + 100 KiB: 17 pages */
  for (uint64_t mem = 0; mem < 4; mem++) {
    uint64_t params[2] = {mem, 1};
    CHECK(call1(m, "grow", params, 2) == 0xffffffffu);
  }
  CHECK(call1(m, "pages", NULL, 0) == 17);
  sbx_module_free(m);
  sbx_close(host);

  /* Under one page the two initial pages do not fit together. */
  config = new_config();
  CHECK_STATUS(sbx_config_set_memory_limit(config, 64 << 10), SBX_STATUS_OK);
  host = sbx_test_host(config);
  sbx_config_free(config);
  m = NULL;
  sbx_error *err = NULL;
  CHECK_STATUS_ERR(sbx_test_load(host, "multi_memory.wasm", &m, &err),
                   SBX_STATUS_RESOURCE_LIMIT, err);
  CHECK(m == NULL);
  CHECK(err && strstr(sbx_error_message(err), "the memory limit is 65536"));
  sbx_error_free(err);
  sbx_close(host);
}

/* --- interrupt from another thread --- */

struct loop_call {
  const sbx_module *module;
  const sbx_cancel *cancel;
  uint64_t timeout_ns;
  atomic_int started;
  atomic_int done;
  sbx_status status;
};

static void *run_loop(void *arg) {
  struct loop_call *c = arg;
  atomic_store(&c->started, 1);
  c->status = sbx_test_call(c->module, "loop", NULL, 0, NULL, 0, NULL,
                            c->timeout_ns, c->cancel, NULL);
  atomic_store(&c->done, 1);
  return NULL;
}

/* Waits up to `ms` for c->done; returns whether it came. */
static bool wait_done(struct loop_call *c, unsigned ms) {
  double until = sbx_test_now_ms() + ms;
  while (!atomic_load(&c->done)) {
    if (sbx_test_now_ms() > until) return false;
    sbx_test_sleep_ms(5);
  }
  return true;
}

static void test_interrupt(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *loop = sbx_test_must_load(host, "infinite_loop.wasm");

  /* Interrupting an idle module is fine and does not stick. */
  CHECK_STATUS(sbx_module_interrupt(loop), SBX_STATUS_OK);

  struct loop_call c = {.module = loop, .timeout_ns = SBX_TIMEOUT_NONE};
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, run_loop, &c) == 0);
  while (!atomic_load(&c.started)) sbx_test_sleep_ms(1);
  sbx_test_sleep_ms(50);
  /*
   * The thread may not be inside the guest yet, and an interrupt only stops
   * a call that is running, so keep interrupting until the call returns.
   */
  double until = sbx_test_now_ms() + 60000;
  while (!atomic_load(&c.done) && sbx_test_now_ms() < until) {
    CHECK_STATUS(sbx_module_interrupt(loop), SBX_STATUS_OK);
    sbx_test_sleep_ms(20);
  }
  if (!atomic_load(&c.done)) {
    FAIL_AT(__FILE__, __LINE__, "interrupt did not stop the call in 60 s");
    sbx_module_close(loop); /* unblocks the thread */
  }
  REQUIRE(pthread_join(t, NULL) == 0);
  CHECK_STATUS(c.status, SBX_STATUS_INTERRUPTED);

  /* The interrupt does not hit later calls: a timed call times out. */
  for (int i = 0; i < 2; i++)
    expect_call(loop, "loop", NULL, 0, 0, MS_TO_NS(50), SBX_STATUS_TIMEOUT);
  sbx_module_free(loop);
  sbx_close(host);
}

static void test_cancel(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *loop = sbx_test_must_load(host, "infinite_loop.wasm");
  sbx_module *add = sbx_test_must_load(host, "add.wasm");
  sbx_cancel *cancel = NULL;
  CHECK_STATUS(sbx_cancel_new(host, &cancel), SBX_STATUS_OK);
  REQUIRE(cancel != NULL);

  /* An untriggered token changes nothing. */
  uint64_t params[2] = {2, 3}, r = 0;
  CHECK_STATUS(sbx_test_call(add, "add", params, 2, &r, 1, NULL, 0, cancel,
                             NULL),
               SBX_STATUS_OK);
  CHECK(r == 5);

  /* Triggered before the call: the call stops at once. The 30 s timeout is
   * only a safety net; hitting it would give TIMEOUT and fail the test. */
  CHECK_STATUS(sbx_cancel_trigger(cancel), SBX_STATUS_OK);
  CHECK_STATUS(sbx_cancel_trigger(cancel), SBX_STATUS_OK); /* idempotent */
  double t0 = sbx_test_now_ms();
  sbx_error *err = NULL;
  sbx_status st = sbx_test_call(loop, "loop", NULL, 0, NULL, 0, NULL,
                                MS_TO_NS(30000), cancel, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_INTERRUPTED, err);
  CHECK(sbx_test_now_ms() - t0 < SBX_SLOW_BOUND_MS);
  sbx_error_free(err);
  /* Still triggered: a short call is stopped as well. */
  err = NULL;
  st = sbx_test_call(add, "add", params, 2, &r, 1, NULL, 0, cancel, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_INTERRUPTED, err);
  sbx_error_free(err);
  /* Calls without the token are not affected. */
  CHECK(call1(add, "add", params, 2) == 5);

  /* Reset: the token can be used again. */
  CHECK_STATUS(sbx_cancel_reset(cancel), SBX_STATUS_OK);
  r = 0;
  CHECK_STATUS(sbx_test_call(add, "add", params, 2, &r, 1, NULL, 0, cancel,
                             NULL),
               SBX_STATUS_OK);
  CHECK(r == 5);

  /* Triggered from another thread during a call. */
  struct loop_call c = {
      .module = loop, .cancel = cancel, .timeout_ns = SBX_TIMEOUT_NONE};
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, run_loop, &c) == 0);
  while (!atomic_load(&c.started)) sbx_test_sleep_ms(1);
  sbx_test_sleep_ms(50);
  CHECK_STATUS(sbx_cancel_trigger(cancel), SBX_STATUS_OK);
  if (!wait_done(&c, 60000)) {
    FAIL_AT(__FILE__, __LINE__, "cancel did not stop the call in 60 s");
    sbx_module_close(loop);
  }
  REQUIRE(pthread_join(t, NULL) == 0);
  CHECK_STATUS(c.status, SBX_STATUS_INTERRUPTED);
  CHECK_STATUS(sbx_cancel_reset(cancel), SBX_STATUS_OK);

  /* A load given a triggered token is stopped too. */
  CHECK_STATUS(sbx_cancel_trigger(cancel), SBX_STATUS_OK);
  size_t len = 0;
  uint8_t *wasm = sbx_test_read_fixture("start_loop.wasm", &len);
  sbx_module *m = NULL;
  err = NULL;
  st = sbx_load_module(host, (const uint8_t *)"start_loop", 10, wasm, len,
                       MS_TO_NS(30000), cancel, &m, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_INTERRUPTED, err);
  CHECK(m == NULL);
  sbx_error_free(err);
  free(wasm);

  /* A token of another host is rejected. */
  sbx_host *other = sbx_test_host(NULL);
  sbx_cancel *foreign = NULL;
  CHECK_STATUS(sbx_cancel_new(other, &foreign), SBX_STATUS_OK);
  err = NULL;
  st = sbx_test_call(add, "add", params, 2, &r, 1, NULL, 0, foreign, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_INVALID_ARGUMENT, err);
  sbx_error_free(err);
  sbx_cancel_free(foreign);
  sbx_close(other);

  sbx_cancel_free(cancel);
  sbx_module_free(loop);
  sbx_module_free(add);
  sbx_close(host);
}

static void test_close_during_call(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *loop = sbx_test_must_load(host, "infinite_loop.wasm");
  struct loop_call c = {.module = loop, .timeout_ns = SBX_TIMEOUT_NONE};
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, run_loop, &c) == 0);
  while (!atomic_load(&c.started)) sbx_test_sleep_ms(1);
  sbx_test_sleep_ms(100);
  /* Close interrupts the running call, waits for it to return, and that
   * call says HANDLE_CLOSED. */
  CHECK_STATUS(sbx_module_close(loop), SBX_STATUS_OK);
  CHECK(wait_done(&c, 60000));
  REQUIRE(pthread_join(t, NULL) == 0);
  CHECK_STATUS(c.status, SBX_STATUS_HANDLE_CLOSED);

  /* Every function now says HANDLE_CLOSED (or works, where documented). */
  expect_call(loop, "loop", NULL, 0, 0, MS_TO_NS(50),
              SBX_STATUS_HANDLE_CLOSED);
  CHECK_STATUS(sbx_module_interrupt(loop), SBX_STATUS_HANDLE_CLOSED);
  uint64_t fuel = 0;
  CHECK_STATUS(sbx_module_last_call_fuel(loop, &fuel),
               SBX_STATUS_HANDLE_CLOSED);
  const char *name = NULL;
  CHECK_STATUS(sbx_module_name(loop, &name, NULL), SBX_STATUS_OK);
  CHECK(name && strcmp(name, "infinite_loop.wasm") == 0);
  size_t count = 0;
  CHECK_STATUS(sbx_module_function_count(loop, &count), SBX_STATUS_OK);
  CHECK(count == 1);
  sbx_function_info info;
  CHECK_STATUS(sbx_module_function_at(loop, 0, &info), SBX_STATUS_OK);
  CHECK(strcmp(info.name, "loop") == 0);
  /* Close is idempotent. */
  CHECK_STATUS(sbx_module_close(loop), SBX_STATUS_OK);
  CHECK_STATUS(sbx_module_close(loop), SBX_STATUS_OK);
  sbx_module_free(loop);

  /* The same whenever the close comes: before the call starts, as it
   * starts, or while it loops (the delay varies from round to round). */
  for (unsigned round = 0; round < 50; round++) {
    sbx_module *m = sbx_test_must_load(host, "infinite_loop.wasm");
    struct loop_call rc = {.module = m, .timeout_ns = SBX_TIMEOUT_NONE};
    REQUIRE(pthread_create(&t, NULL, run_loop, &rc) == 0);
    while (!atomic_load(&rc.started)) sbx_test_sleep_ms(1);
    sbx_test_sleep_ms(round % 10);
    CHECK_STATUS(sbx_module_close(m), SBX_STATUS_OK);
    CHECK(wait_done(&rc, 60000));
    REQUIRE(pthread_join(t, NULL) == 0);
    if (!CHECK_STATUS(rc.status, SBX_STATUS_HANDLE_CLOSED))
      fprintf(stderr, "  (round %u)\n", round);
    sbx_module_free(m);
  }

  /* The host is still fine. */
  sbx_module *add = sbx_test_must_load(host, "add.wasm");
  uint64_t params[2] = {2, 3};
  CHECK(call1(add, "add", params, 2) == 5);
  sbx_module_free(add);
  sbx_close(host);
}

static void test_close_host(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *add = sbx_test_must_load(host, "add.wasm");
  sbx_module *counter = sbx_test_must_load(host, "counter.wasm");
  sbx_module *loop = sbx_test_must_load(host, "infinite_loop.wasm");
  CHECK(call1(counter, "inc", NULL, 0) == 1);

  /* Close the host while a call runs on one of its modules. */
  struct loop_call c = {.module = loop, .timeout_ns = SBX_TIMEOUT_NONE};
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, run_loop, &c) == 0);
  while (!atomic_load(&c.started)) sbx_test_sleep_ms(1);
  sbx_test_sleep_ms(100);
  sbx_close(host);
  CHECK(wait_done(&c, 60000));
  REQUIRE(pthread_join(t, NULL) == 0);
  CHECK_STATUS(c.status, SBX_STATUS_HANDLE_CLOSED);

  uint64_t params[2] = {2, 3};
  expect_call(add, "add", params, 2, 1, 0, SBX_STATUS_HANDLE_CLOSED);
  expect_call(counter, "get", NULL, 0, 1, 0, SBX_STATUS_HANDLE_CLOSED);
  expect_call(loop, "loop", NULL, 0, 0, 0, SBX_STATUS_HANDLE_CLOSED);
  CHECK_STATUS(sbx_module_interrupt(add), SBX_STATUS_HANDLE_CLOSED);
  CHECK_STATUS(sbx_module_close(add), SBX_STATUS_OK);
  const char *name = NULL;
  CHECK_STATUS(sbx_module_name(counter, &name, NULL), SBX_STATUS_OK);
  CHECK(name && strcmp(name, "counter.wasm") == 0);
  sbx_module_free(add);
  sbx_module_free(counter);
  sbx_module_free(loop);
}

static void test_max_modules(void) {
  sbx_config *config = new_config();
  CHECK_STATUS(sbx_config_set_max_modules(config, 2), SBX_STATUS_OK);
  sbx_host *host = sbx_test_host(config);
  sbx_config_free(config);
  sbx_module *a = sbx_test_must_load(host, "add.wasm");
  sbx_module *b = sbx_test_must_load(host, "counter.wasm");
  sbx_module *c = NULL;
  sbx_error *err = NULL;
  CHECK_STATUS_ERR(sbx_test_load(host, "add.wasm", &c, &err),
                   SBX_STATUS_INSTANCE_LIMIT, err);
  CHECK(c == NULL);
  sbx_error_free(err);
  /* A failed load does not take a slot. */
  CHECK_STATUS(sbx_test_load(host, "unresolved_import.wasm", &c, NULL),
               SBX_STATUS_INSTANCE_LIMIT);
  /* Closing one (without freeing it) frees its slot. */
  CHECK_STATUS(sbx_module_close(a), SBX_STATUS_OK);
  c = sbx_test_must_load(host, "add.wasm");
  uint64_t params[2] = {2, 3};
  CHECK(call1(c, "add", params, 2) == 5);
  CHECK(call1(b, "inc", NULL, 0) == 1);
  sbx_module *d = NULL;
  CHECK_STATUS(sbx_test_load(host, "add.wasm", &d, NULL),
               SBX_STATUS_INSTANCE_LIMIT);
  sbx_module_free(d);
  sbx_module_free(a);
  /* Freeing (closing implicitly) also frees a slot. */
  sbx_module_free(b);
  b = sbx_test_must_load(host, "counter.wasm");
  CHECK(call1(b, "get", NULL, 0) == 0);
  sbx_module_free(b);
  sbx_module_free(c);
  sbx_close(host);
}

static void test_pooling(void) {
  sbx_config *config = new_config();
  CHECK_STATUS(sbx_config_set_max_modules(config, 4), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_pooling(config, true), SBX_STATUS_OK);
  sbx_host *host = sbx_test_host(config);
  sbx_config_free(config);
  sbx_module *m[4];
  for (int i = 0; i < 4; i++) {
    m[i] = sbx_test_must_load(host, i % 2 ? "counter.wasm" : "add.wasm");
  }
  uint64_t params[2] = {20, 22};
  CHECK(call1(m[0], "add", params, 2) == 42);
  CHECK(call1(m[2], "add", params, 2) == 42);
  CHECK(call1(m[1], "inc", NULL, 0) == 1);
  CHECK(call1(m[3], "get", NULL, 0) == 0);
  sbx_module *fifth = NULL;
  sbx_error *err = NULL;
  CHECK_STATUS_ERR(sbx_test_load(host, "add.wasm", &fifth, &err),
                   SBX_STATUS_INSTANCE_LIMIT, err);
  CHECK(fifth == NULL);
  sbx_error_free(err);
  /* A freed slot is reused, with fresh state. */
  sbx_module_free(m[1]);
  m[1] = sbx_test_must_load(host, "counter.wasm");
  CHECK(call1(m[1], "get", NULL, 0) == 0);
  /* Traps in pooled memory are still caught. */
  sbx_module_free(m[3]);
  m[3] = sbx_test_must_load(host, "trap_memory_out_of_bounds.wasm");
  sbx_error *trap = NULL;
  uint64_t r;
  CHECK_STATUS_ERR(sbx_test_call(m[3], "run", NULL, 0, &r, 1, NULL, 0, NULL,
                                 &trap),
                   SBX_STATUS_TRAP, trap);
  CHECK(sbx_error_trap_code(trap) == SBX_TRAP_CODE_MEMORY_OUT_OF_BOUNDS);
  sbx_error_free(trap);
  for (int i = 0; i < 4; i++) sbx_module_free(m[i]);

  /* A slot holds one memory: four fail to load, naming the restriction. */
  sbx_module *multi = NULL;
  err = NULL;
  CHECK_STATUS_ERR(sbx_test_load(host, "multi_memory.wasm", &multi, &err),
                   SBX_STATUS_RESOURCE_LIMIT, err);
  CHECK(multi == NULL);
  CHECK(err && strcmp(sbx_error_message(err),
                      "module defines 4 memories; a pooled host allows 1 "
                      "per module") == 0);
  sbx_error_free(err);

  /* Pooling with more slots than the pool allows is rejected. */
  config = new_config();
  CHECK_STATUS(sbx_config_set_max_modules(config, 4097), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_pooling(config, true),
               SBX_STATUS_INVALID_ARGUMENT);
  sbx_config_free(config);
  sbx_close(host);
}

static void test_config_ranges(void) {
  sbx_config *c = new_config();
  CHECK_STATUS(sbx_config_set_memory_limit(c, 0), SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_config_set_memory_limit(c, 65535),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_config_set_memory_limit(c, 65536), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_memory_limit(c, 4ull << 30), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_memory_limit(c, (4ull << 30) + 1),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_config_set_table_elements_limit(c, 0),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_config_set_table_elements_limit(c, 1), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_table_elements_limit(c, 1ull << 32),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_config_set_max_wasm_stack(c, (16 << 10) - 1),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_config_set_max_wasm_stack(c, 16 << 10), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_max_wasm_stack(c, 2 << 20), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_max_wasm_stack(c, 4 << 20), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_max_wasm_stack(c, (4 << 20) + 1),
               SBX_STATUS_INVALID_ARGUMENT);
  /* Hosts take every stack size the setter accepts. */
  for (uint64_t stack = 2 << 20; stack <= 4 << 20; stack += 2 << 20) {
    sbx_config *s = new_config();
    CHECK_STATUS(sbx_config_set_max_wasm_stack(s, stack), SBX_STATUS_OK);
    sbx_host *h = NULL;
    sbx_error *e = NULL;
    CHECK_STATUS_ERR(sbx_host_new(s, &h, &e), SBX_STATUS_OK, e);
    sbx_error_free(e);
    sbx_config_free(s);
    sbx_close(h);
  }
  CHECK_STATUS(sbx_config_set_max_wasm_stack(c, 512 << 10), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_max_modules(c, 0), SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_config_set_max_modules(c, 1), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_exec_timeout_ns(c, 0), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_load_timeout_ns(c, SBX_TIMEOUT_NONE),
               SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_fuel(c, 0), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_pooling(c, false), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_cache_dir(c, NULL, 0), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_cache_dir(c, (const uint8_t *)"\xff", 1),
               SBX_STATUS_INVALID_ARGUMENT);
  /* A host from the accumulated (valid) config works. */
  sbx_host *host = sbx_test_host(c);
  sbx_config_free(c);
  sbx_module *m = sbx_test_must_load(host, "add.wasm");
  uint64_t params[2] = {2, 3};
  CHECK(call1(m, "add", params, 2) == 5);
  sbx_module_free(m);
  sbx_close(host);
}

static void test_null_arguments(void) {
  const sbx_status INVALID = SBX_STATUS_INVALID_ARGUMENT;
  /* free/close of NULL are no-ops */
  sbx_config_free(NULL);
  sbx_error_free(NULL);
  sbx_close(NULL);
  sbx_cancel_free(NULL);
  sbx_module_free(NULL);
  CHECK_STATUS(sbx_module_close(NULL), SBX_STATUS_OK);

  /* config setters */
  CHECK_STATUS(sbx_config_set_exec_timeout_ns(NULL, 1), INVALID);
  CHECK_STATUS(sbx_config_set_load_timeout_ns(NULL, 1), INVALID);
  CHECK_STATUS(sbx_config_set_memory_limit(NULL, 1 << 20), INVALID);
  CHECK_STATUS(sbx_config_set_table_elements_limit(NULL, 10), INVALID);
  CHECK_STATUS(sbx_config_set_max_wasm_stack(NULL, 1 << 20), INVALID);
  CHECK_STATUS(sbx_config_set_max_modules(NULL, 1), INVALID);
  CHECK_STATUS(sbx_config_set_fuel(NULL, 1), INVALID);
  CHECK_STATUS(sbx_config_set_pooling(NULL, true), INVALID);
  CHECK_STATUS(sbx_config_set_cache_dir(NULL, NULL, 0), INVALID);
  sbx_config *config = new_config();
  CHECK_STATUS(sbx_config_set_cache_dir(config, NULL, 5), INVALID);
  sbx_config_free(config);

  /* errors */
  CHECK(sbx_error_status(NULL) == INVALID);
  CHECK(sbx_error_message(NULL) == NULL);
  CHECK(sbx_error_trap_code(NULL) == SBX_TRAP_CODE_NONE);
  CHECK(sbx_error_backtrace(NULL) == NULL);

  /* names */
  CHECK(strcmp(sbx_status_name(SBX_STATUS_OK), "SBX_STATUS_OK") == 0);
  CHECK(strcmp(sbx_status_name(SBX_STATUS_TIMEOUT), "SBX_STATUS_TIMEOUT") ==
        0);
  CHECK(strcmp(sbx_status_name(SBX_STATUS_INTERNAL), "SBX_STATUS_INTERNAL") ==
        0);
  CHECK(strcmp(sbx_status_name(98), "SBX_STATUS_UNKNOWN") == 0);
  CHECK(strcmp(sbx_status_name(1000), "SBX_STATUS_UNKNOWN") == 0);
  CHECK(strcmp(sbx_status_name(0x80000000u), "SBX_STATUS_UNKNOWN") == 0);
  CHECK(strcmp(sbx_status_name(UINT32_MAX), "SBX_STATUS_UNKNOWN") == 0);
  CHECK(strcmp(sbx_trap_code_name(13), "unknown") == 0);
  CHECK(strcmp(sbx_trap_code_name(254), "unknown") == 0);
  static const uint8_t codes[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 255};
  for (size_t i = 0; i < sizeof codes; i++) {
    const char *n = sbx_trap_code_name(codes[i]);
    CHECK(n != NULL && n[0] != '\0' && strcmp(n, "unknown") != 0);
  }
  static const uint32_t statuses[] = {0,  1,  2,  3,  10, 11, 12, 13, 20,
                                      21, 30, 31, 32, 33, 34, 35, 40, 99};
  for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
    const char *n = sbx_status_name(statuses[i]);
    CHECK(n != NULL && strncmp(n, "SBX_STATUS_", 11) == 0 &&
          strcmp(n, "SBX_STATUS_UNKNOWN") != 0);
  }

  /* host */
  sbx_error *err = NULL;
  CHECK_STATUS(sbx_host_new(NULL, NULL, &err), INVALID);
  CHECK(err != NULL);
  sbx_error_free(err);
  CHECK_STATUS(sbx_host_new(NULL, NULL, NULL), INVALID);

  sbx_host *host = sbx_test_host(NULL);
  sbx_cancel *cancel = NULL;
  CHECK_STATUS(sbx_cancel_new(NULL, &cancel), INVALID);
  CHECK(cancel == NULL);
  CHECK_STATUS(sbx_cancel_new(host, NULL), INVALID);
  CHECK_STATUS(sbx_cancel_trigger(NULL), INVALID);
  CHECK_STATUS(sbx_cancel_reset(NULL), INVALID);

  /* load */
  size_t len = 0;
  uint8_t *wasm = sbx_test_read_fixture("add.wasm", &len);
  const uint8_t *name = (const uint8_t *)"n";
  sbx_module *m = NULL;
  struct {
    const sbx_host *host;
    const uint8_t *name;
    size_t name_len;
    const uint8_t *wasm;
    size_t wasm_len;
    sbx_module **out;
  } loads[] = {
      {NULL, name, 1, wasm, len, &m},   {host, NULL, 1, wasm, len, &m},
      {host, NULL, 0, wasm, len, &m},   {host, name, 1, NULL, len, &m},
      {host, name, 1, wasm, len, NULL}, {host, name, SIZE_MAX, wasm, len, &m},
  };
  for (size_t i = 0; i < sizeof loads / sizeof loads[0]; i++) {
    err = NULL;
    sbx_status st =
        sbx_load_module(loads[i].host, loads[i].name, loads[i].name_len,
                        loads[i].wasm, loads[i].wasm_len, 0, NULL,
                        loads[i].out, &err);
    if (!CHECK_STATUS_ERR(st, INVALID, err))
      fprintf(stderr, "  (load case #%zu)\n", i);
    CHECK(m == NULL);
    CHECK(err != NULL);
    sbx_error_free(err);
    /* and with no error out-param */
    CHECK_STATUS(sbx_load_module(loads[i].host, loads[i].name,
                                 loads[i].name_len, loads[i].wasm,
                                 loads[i].wasm_len, 0, NULL, loads[i].out,
                                 NULL),
                 INVALID);
    CHECK(m == NULL);
  }

  m = sbx_test_must_load(host, "add.wasm");
  uint64_t params[2] = {1, 2}, results[1];
  size_t n = 77;
  const uint8_t *fn = (const uint8_t *)"add";
  struct {
    const sbx_module *m;
    const uint8_t *fn;
    size_t fn_len;
    const uint64_t *params;
    size_t nparams;
    uint64_t *results;
    size_t cap;
  } calls[] = {
      {NULL, fn, 3, params, 2, results, 1},
      {m, NULL, 3, params, 2, results, 1},
      {m, fn, 3, NULL, 2, results, 1},
      {m, fn, 3, params, 2, NULL, 1},
      {m, fn, 3, params, SIZE_MAX, results, 1},
      {m, fn, 3, params, 2, results, SIZE_MAX},
  };
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    err = NULL;
    sbx_status st = sbx_call_with_timeout(
        calls[i].m, calls[i].fn, calls[i].fn_len, calls[i].params,
        calls[i].nparams, calls[i].results, calls[i].cap, &n, 0, NULL, &err);
    if (!CHECK_STATUS_ERR(st, INVALID, err))
      fprintf(stderr, "  (call case #%zu)\n", i);
    CHECK(n == 77);
    CHECK(err != NULL);
    sbx_error_free(err);
  }

  CHECK_STATUS(sbx_module_interrupt(NULL), INVALID);
  uint64_t fuel;
  CHECK_STATUS(sbx_module_last_call_fuel(NULL, &fuel), INVALID);
  CHECK_STATUS(sbx_module_last_call_fuel(m, NULL), INVALID);
  const char *mname = NULL;
  size_t mname_len = 0;
  CHECK_STATUS(sbx_module_name(NULL, &mname, &mname_len), INVALID);
  CHECK_STATUS(sbx_module_name(m, NULL, &mname_len), INVALID);
  size_t count = 0;
  CHECK_STATUS(sbx_module_function_count(NULL, &count), INVALID);
  CHECK_STATUS(sbx_module_function_count(m, NULL), INVALID);
  sbx_function_info info;
  CHECK_STATUS(sbx_module_function_at(NULL, 0, &info), INVALID);
  CHECK_STATUS(sbx_module_function_at(m, 0, NULL), INVALID);
  CHECK_STATUS(sbx_module_function_at(m, 1, &info), INVALID);
  CHECK_STATUS(sbx_module_function_at(m, SIZE_MAX, &info), INVALID);

  /* The module still works after all that. */
  CHECK(call1(m, "add", params, 2) == 3);
  sbx_module_free(m);
  free(wasm);
  sbx_close(host);
}

/* NULL arguments for the host-function, guest-memory, WASI and load-option
 * parts of the API. */
static void test_null_arguments_ext(void) {
  const sbx_status INVALID = SBX_STATUS_INVALID_ARGUMENT;
  int32_t code = 0;
  uint64_t u = 0;
  uint8_t buf[4] = {0};
  const uint8_t *s = (const uint8_t *)"x";

  CHECK_STATUS(sbx_config_set_wasi(NULL, NULL), INVALID);
  CHECK_STATUS(sbx_error_exit_code(NULL, &code), INVALID);

  CHECK_STATUS(sbx_caller_memory_size(NULL, &u), INVALID);
  CHECK_STATUS(sbx_caller_memory_read(NULL, 0, buf, 1), INVALID);
  CHECK_STATUS(sbx_caller_memory_write(NULL, 0, buf, 1), INVALID);
  CHECK_STATUS(sbx_caller_user_data(NULL, &u), INVALID);
  CHECK_STATUS(sbx_caller_time_left(NULL, &u), INVALID);
  CHECK_STATUS(sbx_caller_set_error(NULL, s, 1), INVALID);

  sbx_wasi_config_free(NULL);
  CHECK_STATUS(sbx_wasi_config_preopen_dir(NULL, s, 1, s, 1, false), INVALID);
  CHECK_STATUS(sbx_wasi_config_env(NULL, s, 1, s, 1), INVALID);
  CHECK_STATUS(sbx_wasi_config_arg(NULL, s, 1), INVALID);
  CHECK_STATUS(sbx_wasi_config_stdin(NULL, s, 1), INVALID);
  CHECK_STATUS(sbx_wasi_config_stdout(NULL, NULL, NULL, NULL), INVALID);
  CHECK_STATUS(sbx_wasi_config_stderr(NULL, NULL, NULL, NULL), INVALID);
  CHECK_STATUS(sbx_wasi_config_output_limit(NULL, 1), INVALID);
  sbx_wasi_config *wasi = sbx_wasi_config_new();
  REQUIRE(wasi != NULL);
  CHECK_STATUS(sbx_wasi_config_arg(wasi, NULL, 1), INVALID);
  CHECK_STATUS(sbx_wasi_config_arg(wasi, (const uint8_t *)"\xff", 1), INVALID);
  CHECK_STATUS(sbx_wasi_config_stdin(wasi, NULL, 1), INVALID);
  CHECK_STATUS(sbx_wasi_config_env(wasi, NULL, 1, s, 1), INVALID);
  sbx_wasi_config_free(wasi);

  sbx_load_options_free(NULL);
  CHECK_STATUS(sbx_load_options_timeout_ns(NULL, 1), INVALID);
  CHECK_STATUS(sbx_load_options_cancel(NULL, NULL), INVALID);
  CHECK_STATUS(sbx_load_options_wasi(NULL, NULL), INVALID);
  CHECK_STATUS(sbx_load_options_user_data(NULL, 1), INVALID);

  sbx_host *host = sbx_test_host(NULL);
  sbx_error *err = NULL;
  CHECK_STATUS_ERR(sbx_host_define_func(NULL, s, 1, s, 1, NULL, 0, NULL, 0,
                                        NULL, NULL, NULL, &err),
                   INVALID, err);
  sbx_error_free(err);
  err = NULL;
  CHECK_STATUS_ERR(sbx_host_define_func(host, s, 1, s, 1, NULL, 0, NULL, 0,
                                        NULL, NULL, NULL, &err),
                   INVALID, err); /* NULL callback */
  sbx_error_free(err);

  size_t len = 0;
  uint8_t *wasm = sbx_test_read_fixture("all_types.wasm", &len);
  sbx_module *m = NULL;
  err = NULL;
  CHECK_STATUS_ERR(sbx_load_module_with(NULL, s, 1, wasm, len, NULL, &m, &err),
                   INVALID, err);
  sbx_error_free(err);
  CHECK_STATUS(sbx_load_module_with(host, s, 1, wasm, len, NULL, NULL, NULL),
               INVALID);
  CHECK_STATUS(sbx_load_module_with(host, s, 1, NULL, len, NULL, &m, NULL),
               INVALID);
  CHECK(m == NULL);
  /* NULL options mean the defaults. */
  CHECK_STATUS(sbx_load_module_with(host, s, 1, wasm, len, NULL, &m, NULL),
               SBX_STATUS_OK);
  free(wasm);
  REQUIRE(m != NULL);
  CHECK_STATUS(sbx_module_memory_size(NULL, &u), INVALID);
  CHECK_STATUS(sbx_module_memory_size(m, NULL), INVALID);
  CHECK_STATUS(sbx_module_memory_size(m, &u), SBX_STATUS_OK);
  CHECK(u == 65536);
  CHECK_STATUS(sbx_module_memory_read(NULL, 0, buf, 1), INVALID);
  CHECK_STATUS(sbx_module_memory_read(m, 0, NULL, 1), INVALID);
  CHECK_STATUS(sbx_module_memory_write(NULL, 0, buf, 1), INVALID);
  CHECK_STATUS(sbx_module_memory_write(m, 0, NULL, 1), INVALID);
  CHECK_STATUS(sbx_module_memory_write(m, 8, (const uint8_t *)"abcd", 4),
               SBX_STATUS_OK);
  CHECK_STATUS(sbx_module_memory_read(m, 8, buf, 4), SBX_STATUS_OK);
  CHECK(memcmp(buf, "abcd", 4) == 0);
  CHECK_STATUS(sbx_module_memory_read(m, 65535, buf, 2),
               SBX_STATUS_OUT_OF_BOUNDS);
  CHECK_STATUS(sbx_module_memory_read(m, UINT64_MAX, buf, 2),
               SBX_STATUS_OUT_OF_BOUNDS);
  sbx_module_free(m);
  sbx_close(host);
}

static void test_double_close(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *m = sbx_test_must_load(host, "add.wasm");
  CHECK_STATUS(sbx_module_close(m), SBX_STATUS_OK);
  CHECK_STATUS(sbx_module_close(m), SBX_STATUS_OK);
  uint64_t params[2] = {1, 2};
  expect_call(m, "add", params, 2, 1, 0, SBX_STATUS_HANDLE_CLOSED);
  sbx_module_free(m);
  sbx_module_free(NULL);
  sbx_module_free(NULL);
  sbx_close(host);
  sbx_close(NULL);
  sbx_close(NULL);
  sbx_config_free(NULL);
  sbx_error_free(NULL);
  sbx_cancel_free(NULL);
}

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static uint64_t f64_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
}

static void test_all_types(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *m = sbx_test_must_load(host, "all_types.wasm");

  /* i32: -1 is 0xffffffff in the low 32 bits, high bits zero. */
  uint64_t v = 0xffffffffu;
  CHECK(call1(m, "id_i32", &v, 1) == 0xffffffffu);
  v = 0x80000000u;
  CHECK(call1(m, "id_i32", &v, 1) == 0x80000000u);
  v = 7;
  CHECK(call1(m, "id_i32", &v, 1) == 7);
  /* i64 as is */
  v = UINT64_MAX;
  CHECK(call1(m, "id_i64", &v, 1) == UINT64_MAX);
  v = 0x8000000000000001ull;
  CHECK(call1(m, "id_i64", &v, 1) == 0x8000000000000001ull);
  /* f32 as IEEE bits in the low 32 */
  v = f32_bits(1.5f);
  CHECK(v == 0x3fc00000u);
  CHECK(call1(m, "id_f32", &v, 1) == 0x3fc00000u);
  CHECK(call1(m, "neg_f32", &v, 1) == 0xbfc00000u);
  v = f32_bits(-0.0f);
  CHECK(call1(m, "neg_f32", &v, 1) == 0);
  v = 0x7f800000u; /* +inf */
  CHECK(call1(m, "id_f32", &v, 1) == 0x7f800000u);
  /* f64 as IEEE bits */
  v = f64_bits(-2.5);
  CHECK(call1(m, "id_f64", &v, 1) == f64_bits(-2.5));
  uint64_t two[2] = {f64_bits(1.5), f64_bits(2.25)};
  CHECK(call1(m, "add_f64", two, 2) == f64_bits(3.75));
  /* multi-value */
  uint64_t sp[2] = {0xfffffffeu, 0x123456789abcdefull};
  uint64_t res[2] = {0, 0};
  size_t n = 0;
  CHECK_STATUS(sbx_test_call(m, "swap", sp, 2, res, 2, &n, 0, NULL, NULL),
               SBX_STATUS_OK);
  CHECK(n == 2);
  CHECK(res[0] == 0x123456789abcdefull);
  CHECK(res[1] == 0xfffffffeu);
  /* mix(i32 -3, i64 10, f32 0.5, f64 0.25) = 7.75 */
  uint64_t mp[4] = {(uint32_t)-3, 10, f32_bits(0.5f), f64_bits(0.25)};
  CHECK(call1(m, "mix", mp, 4) == f64_bits(7.75));
  sbx_module_free(m);
  sbx_close(host);
}

static void test_function_list(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *m = sbx_test_must_load(host, "all_types.wasm");
  static const struct {
    const char *name;
    const char *params;  /* one char per type: 0=i32 1=i64 2=f32 3=f64 ... */
    const char *results;
  } want[] = {
      {"id_i32", "0", "0"},       {"id_i64", "1", "1"},
      {"id_f32", "2", "2"},       {"id_f64", "3", "3"},
      {"neg_f32", "2", "2"},      {"add_f64", "33", "3"},
      {"swap", "01", "10"},       {"mix", "0123", "3"},
      {"v128_param", "4", ""},    {"funcref_result", "", "5"},
  };
  size_t count = 0;
  CHECK_STATUS(sbx_module_function_count(m, &count), SBX_STATUS_OK);
  CHECK(count == sizeof want / sizeof want[0]);
  for (size_t i = 0; i < count && i < sizeof want / sizeof want[0]; i++) {
    sbx_function_info info;
    memset(&info, 0, sizeof info);
    REQUIRE(sbx_module_function_at(m, i, &info) == SBX_STATUS_OK);
    REQUIRE(info.name != NULL);
    CHECK(strlen(info.name) == info.name_len);
    if (strcmp(info.name, want[i].name) != 0) {
      FAIL_AT(__FILE__, __LINE__, "function %zu is %s, want %s", i,
              info.name, want[i].name);
      continue;
    }
    CHECK(info.params_len == strlen(want[i].params));
    CHECK(info.results_len == strlen(want[i].results));
    for (size_t p = 0; p < info.params_len && p < strlen(want[i].params); p++)
      CHECK(info.params[p] == (uint8_t)(want[i].params[p] - '0'));
    for (size_t r = 0; r < info.results_len && r < strlen(want[i].results);
         r++)
      CHECK(info.results[r] == (uint8_t)(want[i].results[r] - '0'));
  }
  sbx_function_info info;
  CHECK_STATUS(sbx_module_function_at(m, count, &info),
               SBX_STATUS_INVALID_ARGUMENT);
  sbx_module_free(m);

  /* add.wasm has exactly add(i32, i32) -> i32 */
  m = sbx_test_must_load(host, "add.wasm");
  CHECK_STATUS(sbx_module_function_count(m, &count), SBX_STATUS_OK);
  CHECK(count == 1);
  CHECK_STATUS(sbx_module_function_at(m, 0, &info), SBX_STATUS_OK);
  CHECK(strcmp(info.name, "add") == 0 && info.name_len == 3);
  CHECK(info.params_len == 2 && info.params[0] == SBX_VALUE_TYPE_I32 &&
        info.params[1] == SBX_VALUE_TYPE_I32);
  CHECK(info.results_len == 1 && info.results[0] == SBX_VALUE_TYPE_I32);
  sbx_module_free(m);
  sbx_close(host);
}

/* --- disk cache --- */

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void rm_rf(const char *dir) {
  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Lists the *.cwasm files directly in `dir` into paths; returns the count. */
static size_t find_cwasm(const char *dir, char paths[][4096], size_t cap) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len > 6 && strcmp(e->d_name + len - 6, ".cwasm") == 0 && n < cap) {
      snprintf(paths[n], 4096, "%s/%s", dir, e->d_name);
      n++;
    }
  }
  closedir(d);
  return n;
}

static sbx_host *cache_host(const char *dir) {
  sbx_config *config = new_config();
  CHECK_STATUS(sbx_config_set_cache_dir(config, (const uint8_t *)dir,
                                        strlen(dir)),
               SBX_STATUS_OK);
  sbx_host *host = sbx_test_host(config);
  sbx_config_free(config);
  return host;
}

static void load_add_and_check(const char *dir) {
  sbx_host *host = cache_host(dir);
  sbx_module *m = sbx_test_must_load(host, "add.wasm");
  uint64_t params[2] = {2, 3};
  CHECK(call1(m, "add", params, 2) == 5);
  sbx_module_free(m);
  sbx_close(host);
}

static void test_disk_cache(void) {
  const char *tmp = getenv("TMPDIR");
  char base[4096];
  snprintf(base, sizeof base, "%s/sbx-cache-XXXXXX",
           tmp && tmp[0] ? tmp : "/tmp");
  REQUIRE(mkdtemp(base) != NULL);
  char dir[4096 + 16];
  /* A directory that does not exist yet: sbx_host_new creates it. */
  snprintf(dir, sizeof dir, "%s/cache", base);

  char files[8][4096];
  load_add_and_check(dir); /* host1: compiles and writes */
  size_t n = find_cwasm(dir, files, 8);
  CHECK(n == 1);
  if (n == 0) {
    rm_rf(base);
    return;
  }
  struct stat st1;
  REQUIRE(stat(files[0], &st1) == 0);
  CHECK(st1.st_size > 0);
  printf("cache file %s, %lld bytes\n", files[0], (long long)st1.st_size);

  load_add_and_check(dir); /* host2: a hit */
  CHECK(find_cwasm(dir, files, 8) == 1);

  /* Corrupt the file in the middle: host3 misses and recompiles. */
  {
    int fd = open(files[0], O_WRONLY);
    REQUIRE(fd >= 0);
    char junk[256];
    memset(junk, 0xa5, sizeof junk);
    off_t at = st1.st_size > 512 ? st1.st_size / 2 : 0;
    REQUIRE(pwrite(fd, junk, sizeof junk, at) == (ssize_t)sizeof junk);
    close(fd);
  }
  load_add_and_check(dir);

  /* Truncate it: still a miss, not a crash. */
  REQUIRE(truncate(files[0], st1.st_size / 3) == 0);
  load_add_and_check(dir);
  REQUIRE(truncate(files[0], 0) == 0);
  load_add_and_check(dir);

  /* Replace it with garbage of the same size. */
  {
    FILE *f = fopen(files[0], "wb");
    REQUIRE(f != NULL);
    for (off_t i = 0; i < st1.st_size; i++) fputc((int)(i * 7 + 3), f);
    fclose(f);
  }
  load_add_and_check(dir);

  /* A cache dir that cannot be created: SBX_STATUS_IO. */
  char blocker[4096 + 16], bad[4096 + 32];
  snprintf(blocker, sizeof blocker, "%s/file", base);
  FILE *f = fopen(blocker, "w");
  REQUIRE(f != NULL);
  fclose(f);
  snprintf(bad, sizeof bad, "%s/sub", blocker);
  sbx_config *config = new_config();
  CHECK_STATUS(sbx_config_set_cache_dir(config, (const uint8_t *)bad,
                                        strlen(bad)),
               SBX_STATUS_OK);
  sbx_host *host = NULL;
  sbx_error *err = NULL;
  CHECK_STATUS_ERR(sbx_host_new(config, &host, &err), SBX_STATUS_IO, err);
  CHECK(host == NULL);
  CHECK(err && sbx_error_message(err) && sbx_error_message(err)[0]);
  sbx_error_free(err);
  sbx_config_free(config);

  rm_rf(base);
}

/* Several threads loading and calling on one host at once. */
struct worker {
  const sbx_host *host;
  int failures;
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  for (int i = 0; i < 5; i++) {
    sbx_module *m = NULL;
    if (sbx_test_load(w->host, "counter.wasm", &m, NULL) != SBX_STATUS_OK) {
      w->failures++;
      continue;
    }
    for (uint64_t k = 1; k <= 20; k++) {
      uint64_t r = 0;
      if (sbx_test_call(m, "inc", NULL, 0, &r, 1, NULL, 0, NULL, NULL) !=
              SBX_STATUS_OK ||
          r != k)
        w->failures++;
    }
    sbx_module_free(m);
  }
  return NULL;
}

static void test_threads(void) {
  sbx_host *host = sbx_test_host(NULL);
  enum { N = 4 };
  pthread_t t[N];
  struct worker w[N];
  for (int i = 0; i < N; i++) {
    w[i] = (struct worker){.host = host};
    REQUIRE(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
  }
  for (int i = 0; i < N; i++) {
    REQUIRE(pthread_join(t[i], NULL) == 0);
    CHECK(w[i].failures == 0);
  }
  sbx_close(host);
}

/*
 * Not a normal test: after sbx installed its signal handlers (a load and a
 * trap), a NULL dereference in the embedder must still crash the process
 * with the usual report (under ASan: "AddressSanitizer: SEGV"). Wasmtime
 * must forward faults outside wasm code to the previous handler.
 */
static void test_crash_reported(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *m = sbx_test_must_load(host, "trap_memory_out_of_bounds.wasm");
  uint64_t r;
  CHECK_STATUS(sbx_test_call(m, "run", NULL, 0, &r, 1, NULL, 0, NULL, NULL),
               SBX_STATUS_TRAP);
  printf("dereferencing NULL now\n");
  volatile int *volatile p = NULL;
  *p = 42;
  printf("still alive?!\n");
  sbx_module_free(m);
  sbx_close(host);
}

/* The checks every refused huge length must pass: INVALID_ARGUMENT, an
 * error with that status (one line, see sbx_test_hand_error). */
#define CHECK_HUGE(expr, err)                                                 \
  do {                                                                        \
    sbx_status st_ = (expr);                                                  \
    if (!CHECK_STATUS_ERR(st_, SBX_STATUS_INVALID_ARGUMENT, (err)))           \
      fprintf(stderr, "  (length %zu)\n", n);                                 \
    sbx_test_hand_error(st_, (err), NULL);                                    \
    (err) = NULL;                                                             \
  } while (0)

static int frees_seen = 0;
static void count_free(void *user_data) {
  (void)user_data;
  frees_seen++;
}
static int32_t never_called(void *user_data, sbx_caller *caller,
                            uint64_t *stack, size_t stack_len) {
  (void)user_data, (void)caller, (void)stack, (void)stack_len;
  return 1;
}

/* Every function that takes a length refuses one above PTRDIFF_MAX with
 * INVALID_ARGUMENT before reading anything, and leaves out-params alone.
 * (sbx_caller_* are checked from inside a host function: test_wasi.c.) */
static void test_huge_lengths(void) {
  const size_t huge[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1};
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *mem = sbx_test_must_load(host, "all_types.wasm");
  size_t wasm_len = 0;
  uint8_t *wasm = sbx_test_read_fixture("add.wasm", &wasm_len);
  const uint8_t *name = (const uint8_t *)"add";
  sbx_load_options *options = sbx_load_options_new();
  REQUIRE(options != NULL);
  sbx_config *config = new_config();
  sbx_wasi_config *wasi = sbx_wasi_config_new();
  REQUIRE(wasi != NULL);
  sbx_module *const untouched_module = (sbx_module *)(uintptr_t)0x5b5;
  static const uint8_t types[1] = {SBX_VALUE_TYPE_I32};
  for (size_t h = 0; h < 2; h++) {
    size_t n = huge[h];
    sbx_error *err = NULL;

    /* loads: the name, then the bytes */
    for (int which = 0; which < 2; which++) {
      size_t name_len = which == 0 ? n : 3, len = which == 1 ? n : wasm_len;
      sbx_module *m = untouched_module;
      CHECK_HUGE(sbx_load_module(host, name, name_len, wasm, len, 0, NULL, &m,
                                 &err),
                 err);
      CHECK(m == untouched_module);
      CHECK_HUGE(sbx_load_module_with(host, name, name_len, wasm, len, options,
                                      &m, &err),
                 err);
      CHECK(m == untouched_module);
    }

    /* calls: the function name, the params, the results */
    uint64_t params[2] = {2, 3}, results[2] = {0xdead, 0xbeef};
    size_t written = 12345;
    const uint8_t *f = (const uint8_t *)"id_i32";
    CHECK_HUGE(sbx_call_with_timeout(mem, f, n, params, 1, results, 2,
                                     &written, 0, NULL, &err),
               err);
    CHECK_HUGE(sbx_call_with_timeout(mem, f, 6, params, n, results, 2,
                                     &written, 0, NULL, &err),
               err);
    CHECK_HUGE(sbx_call_with_timeout(mem, f, 6, params, 1, results, n,
                                     &written, 0, NULL, &err),
               err);
    CHECK(written == 12345 && results[0] == 0xdead && results[1] == 0xbeef);

    /* guest memory */
    uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK_STATUS(sbx_module_memory_read(mem, 0, buf, n),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK(buf[0] == 1 && buf[7] == 8);
    CHECK_STATUS(sbx_module_memory_write(mem, 0, buf, n),
                 SBX_STATUS_INVALID_ARGUMENT);
    sbx_function_info info = {.name_len = 777};
    CHECK_STATUS(sbx_module_function_at(mem, n, &info),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK(info.name_len == 777);

    /* host functions: each of the four lengths; user data freed each time */
    const uint8_t *id = (const uint8_t *)"env";
    size_t lens[4][4] = {
        {n, 1, 1, 1}, {3, n, 1, 1}, {3, 1, n, 1}, {3, 1, 1, n}};
    for (size_t i = 0; i < 4; i++) {
      int before = frees_seen;
      CHECK_HUGE(sbx_host_define_func(host, id, lens[i][0], id, lens[i][1],
                                      types, lens[i][2], types, lens[i][3],
                                      never_called, NULL, count_free, &err),
                 err);
      CHECK(frees_seen == before + 1);
    }

    /* settings */
    CHECK_STATUS(sbx_config_set_cache_dir(config, name, n),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sbx_wasi_config_preopen_dir(wasi, name, n, name, 3, false),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sbx_wasi_config_preopen_dir(wasi, name, 3, name, n, false),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sbx_wasi_config_env(wasi, name, n, name, 3),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sbx_wasi_config_env(wasi, name, 3, name, n),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sbx_wasi_config_arg(wasi, name, n),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sbx_wasi_config_stdin(wasi, name, n),
                 SBX_STATUS_INVALID_ARGUMENT);
  }
  /* The refused cache dir did not stick: the config still makes a host. */
  sbx_close(sbx_test_host(config));
  sbx_config_free(config);
  sbx_wasi_config_free(wasi);
  sbx_load_options_free(options);
  free(wasm);
  sbx_module_free(mem);
  sbx_close(host);
}

/* A module exporting a function named "" that returns 7. */
static const uint8_t EMPTY_EXPORT[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, /* magic, version */
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,       /* type: () -> i32 */
    0x03, 0x02, 0x01, 0x00,                         /* func 0: type 0 */
    0x07, 0x04, 0x01, 0x00, 0x00, 0x00,             /* export "" = func 0 */
    0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x07, 0x0b, /* i32.const 7 */
};

/* What the header decides about names and values. */
static void test_names_and_values(void) {
  sbx_host *host = sbx_test_host(NULL);

  /* Export names are the module's: "" is a name like any other. */
  sbx_module *empty = NULL;
  CHECK_STATUS(load_bytes(host, "empty", 5, EMPTY_EXPORT, sizeof EMPTY_EXPORT,
                          &empty, NULL),
               SBX_STATUS_OK);
  uint64_t r = 0;
  size_t n = 0;
  if (empty) {
    sbx_error *err = NULL;
    CHECK_STATUS_ERR(sbx_call_with_timeout(empty, NULL, 0, NULL, 0, &r, 1, &n,
                                           0, NULL, &err),
                     SBX_STATUS_OK, err);
    sbx_error_free(err);
    CHECK(n == 1 && r == 7);
  }
  sbx_module_free(empty);
  sbx_module *add = sbx_test_must_load(host, "add.wasm");
  expect_call(add, "", NULL, 0, 1, 0, SBX_STATUS_EXPORT_NOT_FOUND);
  expect_call(add, " ", NULL, 0, 1, 0, SBX_STATUS_EXPORT_NOT_FOUND);
  /* Bytes that are not UTF-8 are a caller mistake, as for module names. */
  expect_call(add, "add\xff", NULL, 0, 1, 0, SBX_STATUS_INVALID_ARGUMENT);

  /* i32 params ignore their upper 32 bits; i32 results are zero-extended. */
  uint64_t p[2] = {0xdeadbeef00000002u, UINT64_MAX};
  CHECK(call1(add, "add", p, 2) == 1);
  p[0] = 0;
  CHECK(call1(add, "add", p, 2) == 0xffffffffu);

  /* Module names are length-delimited: an inner NUL is kept. */
  size_t len = 0;
  uint8_t *wasm = sbx_test_read_fixture("add.wasm", &len);
  sbx_module *nul = NULL;
  CHECK_STATUS(load_bytes(host, "a\0b", 3, wasm, len, &nul, NULL),
               SBX_STATUS_OK);
  if (nul) {
    const char *name = NULL;
    size_t name_len = 0;
    CHECK_STATUS(sbx_module_name(nul, &name, &name_len), SBX_STATUS_OK);
    CHECK(name_len == 3 && memcmp(name, "a\0b", 4) == 0);
  }
  sbx_module_free(nul);
  free(wasm);
  sbx_module_free(add);
  sbx_close(host);
}

struct cache_load {
  const char *dir;
  atomic_int done;
};

static void *run_cache_load(void *arg) {
  struct cache_load *c = arg;
  load_add_and_check(c->dir);
  atomic_store(&c->done, 1);
  return NULL;
}

/* Loads add.wasm over `dir` on a fresh host; fails rather than hangs. */
static void load_add_within_bound(const char *dir) {
  struct cache_load c = {.dir = dir};
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, run_cache_load, &c) == 0);
  double until = sbx_test_now_ms() + 60000;
  while (!atomic_load(&c.done)) {
    /* A load blocked in open() never returns: stop the test here. */
    REQUIRE(sbx_test_now_ms() < until);
    sbx_test_sleep_ms(5);
  }
  REQUIRE(pthread_join(t, NULL) == 0);
}

/* Replaces the .cwasm at `code` and its .sum with what `make` creates. */
static void replace_cache_pair(const char *code, int (*make)(const char *)) {
  char sum[4096 + 8];
  snprintf(sum, sizeof sum, "%.*s.sum", (int)(strlen(code) - 6), code);
  REQUIRE(unlink(code) == 0 && unlink(sum) == 0);
  REQUIRE(make(code) == 0 && make(sum) == 0);
}

static int make_fifo(const char *path) { return mkfifo(path, 0600); }
static int make_dir(const char *path) { return mkdir(path, 0700); }

/* Something other than a regular file in a cache file's place is a miss. */
static void test_disk_cache_not_a_file(void) {
  const char *tmp = getenv("TMPDIR");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/sbx-cache-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
  REQUIRE(mkdtemp(dir) != NULL);
  char files[2][4096];
  load_add_and_check(dir);
  REQUIRE(find_cwasm(dir, files, 2) == 1);

  /* FIFOs: opening one for reading would wait for a writer forever. */
  replace_cache_pair(files[0], make_fifo);
  load_add_within_bound(dir);
  struct stat st;
  REQUIRE(stat(files[0], &st) == 0);
  CHECK(S_ISREG(st.st_mode)); /* the compile wrote a good file back */
  load_add_within_bound(dir);

  /* Directories: a miss every time (renaming over them fails). */
  replace_cache_pair(files[0], make_dir);
  load_add_within_bound(dir);
  load_add_within_bound(dir);
  REQUIRE(stat(files[0], &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  rm_rf(dir);
}

/* ------------------------------------------------------------------ */

static const sbx_test_case tests[] = {
    {"version", test_version},
    {"load_and_call", test_load_and_call},
    {"isolation", test_isolation},
    {"timeout", test_timeout},
    {"load_timeout", test_load_timeout},
    {"compile_timeout", test_compile_timeout},
    {"bad_names", test_bad_names},
    {"compile_error", test_compile_error},
    {"link_error", test_link_error},
    {"export_not_found", test_export_not_found},
    {"signature_mismatch", test_signature_mismatch},
    {"traps", test_traps},
    {"fuel", test_fuel},
    {"memory_limit", test_memory_limit},
    {"memory_limit_is_per_module", test_memory_limit_is_per_module},
    {"interrupt", test_interrupt},
    {"cancel", test_cancel},
    {"close_during_call", test_close_during_call},
    {"close_host", test_close_host},
    {"max_modules", test_max_modules},
    {"pooling", test_pooling},
    {"config_ranges", test_config_ranges},
    {"null_arguments", test_null_arguments},
    {"null_arguments_ext", test_null_arguments_ext},
    {"double_close", test_double_close},
    {"all_types", test_all_types},
    {"function_list", test_function_list},
    {"disk_cache", test_disk_cache},
    {"disk_cache_not_a_file", test_disk_cache_not_a_file},
    {"huge_lengths", test_huge_lengths},
    {"names_and_values", test_names_and_values},
    {"threads", test_threads},
    {"crash_reported", test_crash_reported}, /* run only by ctest under ASan */
};

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  const struct {
    const sbx_test_case *cases;
    size_t count;
  } suites[] = {
      {tests, sizeof tests / sizeof tests[0]},
      {sbx_wasi_tests, sbx_wasi_tests_count},
  };
  size_t nsuites = sizeof suites / sizeof suites[0];
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t s = 0; s < nsuites; s++)
      for (size_t i = 0; i < suites[s].count; i++)
        printf("%s\n", suites[s].cases[i].name);
    return 0;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: %s <test>|--list|all\n", argv[0]);
    return 2;
  }
  bool all = strcmp(argv[1], "all") == 0;
  bool found = false;
  for (size_t s = 0; s < nsuites; s++) {
    for (size_t i = 0; i < suites[s].count; i++) {
      const sbx_test_case *t = &suites[s].cases[i];
      /* "all" skips crash_reported, which dies on purpose. */
      if ((all && strcmp(t->name, "crash_reported") != 0) ||
          strcmp(argv[1], t->name) == 0) {
        found = true;
        printf("=== %s\n", t->name);
        t->run();
      }
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
