/*
 * sbx_test_call: loading and calling modules: names, values and types,
 * compile and link errors, traps, fuel, call/load/compile timeouts and
 * per-load options.
 */
#include "sbx_test.h"

static sbx_status load_bytes(const sbx_host *host, const char *name,
                             size_t name_len, const uint8_t *wasm,
                             size_t wasm_len, sbx_module **out,
                             sbx_error **err_out) {
  return sbx_load_module(host, name, name_len, wasm,
                         wasm_len, 0, NULL, out, err_out);
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
  CHECK_STATUS(sbx_call_with_timeout(m, "add", 3, params, 2,
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
  sbx_status st = sbx_load_module(host, "start_loop", 10,
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
  CHECK_STATUS(sbx_config_set_max_abandoned_compiles(config, 1),
               SBX_STATUS_OK);
  sbx_host *host = sbx_test_host(config);
  sbx_config_free(config);

  size_t len = 0;
  uint8_t *bomb = nested_loops(10000, &len);
  sbx_load_options *opts = sbx_load_options_new();
  REQUIRE(opts != NULL);
  CHECK_STATUS(sbx_load_options_set_timeout_ns(opts, MS_TO_NS(300)),
               SBX_STATUS_OK);
  sbx_module *m = NULL;
  sbx_error *err = NULL;
  double t0 = sbx_test_now_ms();
  sbx_status st = sbx_load_module_with(host, "bomb", 4, bomb,
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
  st = sbx_load_module(host, "add", 3, add, add_len,
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
  sbx_status st = sbx_call_with_timeout(add, "\xff", 1,
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

static void test_load_options(void) {
  sbx_host *host = sbx_test_host(NULL);
  size_t len = 0;
  uint8_t *wasm = sbx_test_read_fixture("start_loop.wasm", &len);

  /* A per-load timeout stops a start function that loops. */
  sbx_load_options *opts = sbx_load_options_new();
  REQUIRE(opts != NULL);
  CHECK_STATUS(sbx_load_options_set_timeout_ns(opts, MS_TO_NS(50)), SBX_STATUS_OK);
  sbx_module *m = NULL;
  sbx_error *err = NULL;
  double t0 = sbx_test_now_ms();
  sbx_status st =
      sbx_load_module_with(host, "loop", 4, wasm, len, opts, &m, &err);
  double took = sbx_test_now_ms() - t0;
  CHECK_STATUS_ERR(st, SBX_STATUS_TIMEOUT, err);
  CHECK(m == NULL);
  printf("load timed out after %.1f ms\n", took);
  CHECK(took < 60000);
  sbx_error_free(err);

  /* A triggered cancel token stops it (the options keep the token alive). */
  sbx_cancel *cancel = NULL;
  CHECK_STATUS(sbx_cancel_new(host, &cancel), SBX_STATUS_OK);
  REQUIRE(cancel != NULL);
  CHECK_STATUS(sbx_load_options_set_timeout_ns(opts, SBX_TIMEOUT_NONE),
               SBX_STATUS_OK);
  CHECK_STATUS(sbx_load_options_set_cancel(opts, cancel), SBX_STATUS_OK);
  CHECK_STATUS(sbx_cancel_trigger(cancel), SBX_STATUS_OK);
  sbx_cancel_free(cancel);
  err = NULL;
  st = sbx_load_module_with(host, "loop", 4, wasm, len, opts, &m, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_INTERRUPTED, err);
  CHECK(m == NULL);
  sbx_error_free(err);
  CHECK_STATUS(sbx_load_options_set_cancel(opts, NULL), SBX_STATUS_OK);
  sbx_load_options_free(opts);
  free(wasm);

  /* NULL options and bad arguments. */
  sbx_load_options_free(NULL);
  sbx_wasi_config_free(NULL);
  CHECK_STATUS(sbx_load_options_set_timeout_ns(NULL, 1),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_load_options_set_cancel(NULL, NULL),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_load_options_set_wasi(NULL, NULL), SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_wasi_config_add_preopen_dir(NULL, "/tmp", 4, "/d", 2,
                                           false),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_wasi_config_add_env(NULL, "K", 1, "V", 1),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_wasi_config_add_arg(NULL, "a", 1),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_wasi_config_set_stdin(NULL, u8("a"), 1),
               SBX_STATUS_INVALID_ARGUMENT);
  capture c;
  capture_init(&c);
  CHECK_STATUS(sbx_wasi_config_set_stdout(NULL, capture_cb, &c, capture_free_cb),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_wasi_config_set_stderr(NULL, capture_cb, &c, capture_free_cb),
               SBX_STATUS_INVALID_ARGUMENT);
  /* (Whether free_user_data runs when the config is NULL is not documented:
   * it does not today, unlike sbx_host_define_func's failures.) */
  wasm = sbx_test_read_fixture("add.wasm", &len);
  opts = sbx_load_options_new();
  REQUIRE(opts != NULL);
  m = NULL;
  err = NULL;
  CHECK_STATUS_ERR(sbx_load_module_with(NULL, "a", 1, wasm, len, opts, &m,
                                        &err),
                   SBX_STATUS_INVALID_ARGUMENT, err);
  sbx_error_free(err);
  err = NULL;
  CHECK_STATUS_ERR(sbx_load_module_with(host, " ", 1, wasm, len, opts, &m,
                                        &err),
                   SBX_STATUS_INVALID_ARGUMENT, err);
  sbx_error_free(err);
  err = NULL;
  CHECK_STATUS_ERR(sbx_load_module_with(host, "a", 1, wasm, len, opts,
                                        NULL, &err),
                   SBX_STATUS_INVALID_ARGUMENT, err);
  sbx_error_free(err);
  CHECK(m == NULL);
  sbx_load_options_free(opts);
  free(wasm);
  sbx_close(host);
}
/* ------------------------------------------------------------------ */

const sbx_test_case sbx_tests[] = {
    {"load_and_call", test_load_and_call, 0},
    {"isolation", test_isolation, 0},
    {"timeout", test_timeout, SBX_TEST_SERIAL},
    {"load_timeout", test_load_timeout, SBX_TEST_SERIAL},
    {"compile_timeout", test_compile_timeout, SBX_TEST_SERIAL},
    {"load_options", test_load_options, SBX_TEST_SERIAL},
    {"bad_names", test_bad_names, 0},
    {"compile_error", test_compile_error, 0},
    {"link_error", test_link_error, 0},
    {"export_not_found", test_export_not_found, 0},
    {"signature_mismatch", test_signature_mismatch, 0},
    {"traps", test_traps, 0},
    {"fuel", test_fuel, 0},
    {"all_types", test_all_types, 0},
    {"function_list", test_function_list, 0},
    {"names_and_values", test_names_and_values, 0},
    {"crash_reported", test_crash_reported, SBX_TEST_CRASH},
};

const size_t sbx_tests_count = sizeof sbx_tests / sizeof sbx_tests[0];
