/*
 * sbx_test_config: the API surface that needs no guest to speak of: the
 * version, config setters and their ranges, status and trap-code names,
 * NULL arguments and lengths above PTRDIFF_MAX for every function.
 */
#include "sbx_test.h"

/* ------------------------------------------------------------------ */
/* tests                                                                */

static void test_version(void) {
  const char *v = sbx_version();
  REQUIRE(v != NULL);
  CHECK(v[0] != '\0');
  /* The header and the library linked come from the same Cargo.toml. */
  CHECK(strcmp(v, SBX_VERSION) == 0);
  printf("sbx version %s\n", v);
}

/* `c` is refused, with `want` as the message, by sbx_config_validate and
 * by sbx_host_new alike. */
#define CHECK_REFUSED(c, want)                                                \
  check_refused(__FILE__, __LINE__, (c), (want))
static void check_refused(const char *file, int line, const sbx_config *c,
                          const char *want) {
  sbx_error *e = NULL;
  sbx_status st = sbx_config_validate(c, &e);
  if (st != SBX_STATUS_INVALID_ARGUMENT || !e ||
      strcmp(sbx_error_message(e), want) != 0)
    FAIL_AT(file, line, "validate: %s \"%s\", want \"%s\"",
            sbx_status_name(st), e ? sbx_error_message(e) : "(no error)", want);
  sbx_error_free(e);
  e = NULL;
  sbx_host *h = (sbx_host *)(uintptr_t)0x5b5;
  st = sbx_host_new(c, &h, &e);
  if (st != SBX_STATUS_INVALID_ARGUMENT || !e ||
      strcmp(sbx_error_message(e), want) != 0 ||
      h != (sbx_host *)(uintptr_t)0x5b5)
    FAIL_AT(file, line, "host_new: %s \"%s\", want \"%s\"",
            sbx_status_name(st), e ? sbx_error_message(e) : "(no error)", want);
  sbx_error_free(e);
}

/* `c` passes sbx_config_validate. */
#define CHECK_VALID(c)                                                        \
  do {                                                                        \
    sbx_error *e_ = NULL;                                                     \
    CHECK_STATUS_ERR(sbx_config_validate((c), &e_), SBX_STATUS_OK, e_);       \
    sbx_error_free(e_);                                                       \
  } while (0)

/* Setters record any value (status-only: they fail for NULL alone); the
 * ranges are checked, with a message, by sbx_config_validate and
 * sbx_host_new. */
static void test_config_ranges(void) {
  sbx_config *c = new_config();
  CHECK_VALID(c);
  CHECK_STATUS(sbx_config_set_memory_limit(c, 0), SBX_STATUS_OK);
  CHECK_REFUSED(c, "memory limit 0 is outside 64 KiB..=4 GiB");
  CHECK_STATUS(sbx_config_set_memory_limit(c, 65535), SBX_STATUS_OK);
  CHECK_REFUSED(c, "memory limit 65535 is outside 64 KiB..=4 GiB");
  CHECK_STATUS(sbx_config_set_memory_limit(c, (4ull << 30) + 1),
               SBX_STATUS_OK);
  CHECK_REFUSED(c, "memory limit 4294967297 is outside 64 KiB..=4 GiB");
  CHECK_STATUS(sbx_config_set_memory_limit(c, 65536), SBX_STATUS_OK);
  CHECK_VALID(c);
  CHECK_STATUS(sbx_config_set_memory_limit(c, 4ull << 30), SBX_STATUS_OK);
  CHECK_VALID(c);
  CHECK_STATUS(sbx_config_set_table_elements_limit(c, 0), SBX_STATUS_OK);
  CHECK_REFUSED(c, "table elements limit must be 1..=2^32-1");
  CHECK_STATUS(sbx_config_set_table_elements_limit(c, 1ull << 32),
               SBX_STATUS_OK);
  CHECK_REFUSED(c, "table elements limit must be 1..=2^32-1");
  CHECK_STATUS(sbx_config_set_table_elements_limit(c, 1), SBX_STATUS_OK);
  CHECK_VALID(c);
  CHECK_STATUS(sbx_config_set_max_wasm_stack(c, (16 << 10) - 1),
               SBX_STATUS_OK);
  CHECK_REFUSED(c, "max wasm stack 16383 is outside 16 KiB..=4 MiB");
  CHECK_STATUS(sbx_config_set_max_wasm_stack(c, (4 << 20) + 1),
               SBX_STATUS_OK);
  CHECK_REFUSED(c, "max wasm stack 4194305 is outside 16 KiB..=4 MiB");
  CHECK_STATUS(sbx_config_set_max_wasm_stack(c, 16 << 10), SBX_STATUS_OK);
  CHECK_VALID(c);
  /* Hosts take every stack size validate accepts. */
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
  CHECK_STATUS(sbx_config_set_max_modules(c, 0), SBX_STATUS_OK);
  CHECK_REFUSED(c, "max modules must be at least 1");
  CHECK_STATUS(sbx_config_set_max_modules(c, 5000), SBX_STATUS_OK);
  CHECK_VALID(c);
  CHECK_STATUS(sbx_config_set_pooling(c, true), SBX_STATUS_OK);
  CHECK_REFUSED(c, "a pooled host has at most 4096 slots, not 5000");
  CHECK_STATUS(sbx_config_set_pooling(c, false), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_max_abandoned_compiles(c, 0), SBX_STATUS_OK);
  CHECK_REFUSED(c, "max abandoned compiles must be at least 1: at 0 every "
                   "compile would be refused");
  CHECK_STATUS(sbx_config_set_max_abandoned_compiles(c, 2), SBX_STATUS_OK);
  /* A WASI config's entries are checked with the config that holds it. */
  sbx_wasi_config *w = new_wasi();
  CHECK_STATUS(sbx_wasi_config_add_env(w, "A=B", 3, "x", 1), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_wasi(c, w), SBX_STATUS_OK);
  CHECK_REFUSED(c, "wasi config: env key \"A=B\" must be non-empty and "
                   "contain no '='");
  CHECK_STATUS(sbx_config_set_wasi(c, NULL), SBX_STATUS_OK);
  sbx_wasi_config_free(w);
  CHECK_STATUS(sbx_config_validate(NULL, NULL), SBX_STATUS_INVALID_ARGUMENT);
  CHECK_VALID(c);
  CHECK_STATUS(sbx_config_set_max_modules(c, 1), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_exec_timeout_ns(c, 0), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_load_timeout_ns(c, SBX_TIMEOUT_NONE),
               SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_fuel(c, 0), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_pooling(c, false), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_cache_dir(c, NULL, 0), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_cache_dir(c, "\xff", 1),
               SBX_STATUS_INVALID_ARGUMENT);
  /* A host from the accumulated (valid) config works. */
  CHECK_VALID(c);
  sbx_host *host = sbx_test_host(c);
  sbx_config_free(c);
  sbx_module *m = sbx_test_must_load(host, "add.wasm");
  uint64_t params[2] = {2, 3};
  CHECK(call1(m, "add", params, 2) == 5);
  sbx_module_free(m);
  sbx_close(host);
}

/* Every status and trap code has its name; anything else is "unknown".
 * status_list_check.cmake (ctest: status_list_complete) checks that the two
 * tables below name every SBX_STATUS_* and SBX_TRAP_CODE_* of sbx.h. */
static void test_status_names(void) {
#define NAMED(x) {x, #x}
  static const struct {
    sbx_status status;
    const char *name;
  } statuses[] = {
      NAMED(SBX_STATUS_OK),
      NAMED(SBX_STATUS_INVALID_ARGUMENT),
      NAMED(SBX_STATUS_HANDLE_CLOSED),
      NAMED(SBX_STATUS_OUT_OF_BOUNDS),
      NAMED(SBX_STATUS_COMPILE_ERROR),
      NAMED(SBX_STATUS_LINK_ERROR),
      NAMED(SBX_STATUS_INSTANCE_LIMIT),
      NAMED(SBX_STATUS_RESOURCE_LIMIT),
      NAMED(SBX_STATUS_EXPORT_NOT_FOUND),
      NAMED(SBX_STATUS_SIGNATURE_MISMATCH),
      NAMED(SBX_STATUS_TIMEOUT),
      NAMED(SBX_STATUS_INTERRUPTED),
      NAMED(SBX_STATUS_FUEL_EXHAUSTED),
      NAMED(SBX_STATUS_TRAP),
      NAMED(SBX_STATUS_EXIT),
      NAMED(SBX_STATUS_HOST_ERROR),
      NAMED(SBX_STATUS_IO),
      NAMED(SBX_STATUS_INTERNAL),
  };
  static const struct {
    sbx_trap_code code;
    const char *name;
  } codes[] = {
      NAMED(SBX_TRAP_CODE_NONE),
      NAMED(SBX_TRAP_CODE_STACK_OVERFLOW),
      NAMED(SBX_TRAP_CODE_MEMORY_OUT_OF_BOUNDS),
      NAMED(SBX_TRAP_CODE_HEAP_MISALIGNED),
      NAMED(SBX_TRAP_CODE_TABLE_OUT_OF_BOUNDS),
      NAMED(SBX_TRAP_CODE_INDIRECT_CALL_TO_NULL),
      NAMED(SBX_TRAP_CODE_BAD_SIGNATURE),
      NAMED(SBX_TRAP_CODE_INTEGER_OVERFLOW),
      NAMED(SBX_TRAP_CODE_INTEGER_DIVISION_BY_ZERO),
      NAMED(SBX_TRAP_CODE_BAD_CONVERSION_TO_INTEGER),
      NAMED(SBX_TRAP_CODE_UNREACHABLE),
      NAMED(SBX_TRAP_CODE_ALLOCATION_TOO_LARGE),
      NAMED(SBX_TRAP_CODE_NULL_REFERENCE),
      NAMED(SBX_TRAP_CODE_OTHER),
  };
#undef NAMED
  /* A status's name is its enumerator's; a trap code's is its own, distinct
   * from the others'. */
  for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
    const char *n = sbx_status_name((uint32_t)statuses[i].status);
    if (!n || strcmp(n, statuses[i].name) != 0)
      FAIL_AT(__FILE__, __LINE__, "sbx_status_name(%u) = %s, want %s",
              (unsigned)statuses[i].status, n ? n : "(null)",
              statuses[i].name);
  }
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    const char *n = sbx_trap_code_name((uint8_t)codes[i].code);
    if (!n || n[0] == '\0' || strcmp(n, "unknown") == 0) {
      FAIL_AT(__FILE__, __LINE__, "sbx_trap_code_name(%s) = %s",
              codes[i].name, n ? n : "(null)");
      continue;
    }
    for (size_t j = 0; j < i; j++)
      CHECK(strcmp(n, sbx_trap_code_name((uint8_t)codes[j].code)) != 0);
  }

  /* Values that are neither (these checks were in null_arguments). */
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
  const char *name = "n";
  sbx_module *m = NULL;
  struct {
    const sbx_host *host;
    const char *name;
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
  const char *fn = "add";
  struct {
    const sbx_module *m;
    const char *fn;
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
  const char *s = "x";

  CHECK_STATUS(sbx_config_set_wasi(NULL, NULL), INVALID);
  CHECK_STATUS(sbx_error_exit_code(NULL, &code), INVALID);

  CHECK_STATUS(sbx_caller_memory_size(NULL, &u), INVALID);
  CHECK_STATUS(sbx_caller_memory_read(NULL, 0, buf, 1), INVALID);
  CHECK_STATUS(sbx_caller_memory_write(NULL, 0, buf, 1), INVALID);
  CHECK_STATUS(sbx_caller_user_data(NULL, &u), INVALID);
  CHECK_STATUS(sbx_caller_time_left(NULL, &u), INVALID);
  CHECK_STATUS(sbx_caller_set_error(NULL, s, 1), INVALID);

  sbx_wasi_config_free(NULL);
  CHECK_STATUS(sbx_wasi_config_add_preopen_dir(NULL, s, 1, s, 1, false), INVALID);
  CHECK_STATUS(sbx_wasi_config_add_env(NULL, s, 1, s, 1), INVALID);
  CHECK_STATUS(sbx_wasi_config_add_arg(NULL, s, 1), INVALID);
  CHECK_STATUS(sbx_wasi_config_set_stdin(NULL, buf, 1), INVALID);
  CHECK_STATUS(sbx_wasi_config_set_stdout(NULL, NULL, NULL, NULL), INVALID);
  CHECK_STATUS(sbx_wasi_config_set_stderr(NULL, NULL, NULL, NULL), INVALID);
  CHECK_STATUS(sbx_wasi_config_set_output_limit(NULL, 1), INVALID);
  sbx_wasi_config *wasi = sbx_wasi_config_new();
  REQUIRE(wasi != NULL);
  CHECK_STATUS(sbx_wasi_config_add_arg(wasi, NULL, 1), INVALID);
  CHECK_STATUS(sbx_wasi_config_add_arg(wasi, "\xff", 1), INVALID);
  CHECK_STATUS(sbx_wasi_config_set_stdin(wasi, NULL, 1), INVALID);
  CHECK_STATUS(sbx_wasi_config_add_env(wasi, NULL, 1, s, 1), INVALID);
  sbx_wasi_config_free(wasi);

  sbx_load_options_free(NULL);
  CHECK_STATUS(sbx_load_options_set_timeout_ns(NULL, 1), INVALID);
  CHECK_STATUS(sbx_load_options_set_cancel(NULL, NULL), INVALID);
  CHECK_STATUS(sbx_load_options_set_wasi(NULL, NULL), INVALID);
  CHECK_STATUS(sbx_load_options_set_user_data(NULL, 1), INVALID);

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
  const char *name = "add";
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
    const char *f = "id_i32";
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
    const char *id = "env";
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
    CHECK_STATUS(sbx_wasi_config_add_preopen_dir(wasi, name, n, name, 3, false),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sbx_wasi_config_add_preopen_dir(wasi, name, 3, name, n, false),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sbx_wasi_config_add_env(wasi, name, n, name, 3),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sbx_wasi_config_add_env(wasi, name, 3, name, n),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sbx_wasi_config_add_arg(wasi, name, n),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sbx_wasi_config_set_stdin(wasi, wasm, n),
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
/* ------------------------------------------------------------------ */

const sbx_test_case sbx_tests[] = {
    {"version", test_version, 0},
    {"config_ranges", test_config_ranges, 0},
    {"status_names", test_status_names, 0},
    {"null_arguments", test_null_arguments, 0},
    {"null_arguments_ext", test_null_arguments_ext, 0},
    {"huge_lengths", test_huge_lengths, 0},
};

const size_t sbx_tests_count = sizeof sbx_tests / sizeof sbx_tests[0];
