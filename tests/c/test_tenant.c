/*
 * Multi-tenant hosting through the C ABI: sbx_compile and its instances,
 * sbx_module_reset and the reset policies, the host memory budget and the
 * stats structs, with their NULL handling and statuses.
 */
#include "sbx_test.h"

static sbx_compiled *must_compile(const sbx_host *host, const char *fixture) {
  size_t len = 0;
  uint8_t *wasm = sbx_test_read_fixture(fixture, &len);
  sbx_compiled *compiled = NULL;
  sbx_error *err = NULL;
  sbx_status st = sbx_compile(host, wasm, len, 0, NULL, &compiled, &err);
  free(wasm);
  CHECK_STATUS_ERR(st, SBX_STATUS_OK, err);
  REQUIRE(compiled != NULL);
  return compiled;
}

static sbx_module *instantiate(const sbx_compiled *compiled, const char *name,
                               const sbx_load_options *options) {
  sbx_module *module = NULL;
  sbx_error *err = NULL;
  sbx_status st = sbx_compiled_instantiate(compiled, name, strlen(name),
                                           options, &module, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_OK, err);
  REQUIRE(module != NULL);
  return module;
}

/* reset_state.wasm's non-exported global, memory byte 0 and table slot 0:
 * 7, 42, 1 after load; 99, 99, 2 after `mutate`. */
static void expect_state(const sbx_module *m, uint64_t global, uint64_t byte,
                         uint64_t table) {
  CHECK(call1(m, "global", NULL, 0) == global);
  CHECK(call1(m, "byte", NULL, 0) == byte);
  CHECK(call1(m, "table", NULL, 0) == table);
}

static void test_compile_and_instantiate(void) {
  sbx_config *config = new_config();
  CHECK_STATUS(sbx_config_set_max_modules(config, 2), SBX_STATUS_OK);
  sbx_host *host = sbx_test_host(config);
  sbx_config_free(config);
  sbx_compiled *compiled = must_compile(host, "add.wasm");

  size_t count = 99;
  CHECK_STATUS(sbx_compiled_function_count(compiled, &count), SBX_STATUS_OK);
  CHECK(count == 1);
  sbx_function_info info;
  CHECK_STATUS(sbx_compiled_function_at(compiled, 0, &info), SBX_STATUS_OK);
  CHECK(info.name_len == 3 && memcmp(info.name, "add", 4) == 0);
  CHECK(info.params_len == 2 && info.results_len == 1);
  CHECK_STATUS(sbx_compiled_function_at(compiled, 1, &info),
               SBX_STATUS_INVALID_ARGUMENT);

  sbx_module *a = instantiate(compiled, "a", NULL);
  sbx_module *b = instantiate(compiled, "b", NULL);
  uint64_t params[2] = {20, 22};
  CHECK(call1(a, "add", params, 2) == 42);
  CHECK(call1(b, "add", params, 2) == 42);

  /* max_modules counts instances however they were made. */
  sbx_module *c = (sbx_module *)0x1;
  sbx_error *err = NULL;
  CHECK_STATUS_ERR(sbx_compiled_instantiate(compiled, "c", 1, NULL, &c, &err),
                   SBX_STATUS_INSTANCE_LIMIT, err);
  CHECK(c == (sbx_module *)0x1); /* untouched on failure */
  sbx_error_free(err);
  CHECK_STATUS(sbx_compiled_instantiate(compiled, " ", 1, NULL, &c, NULL),
               SBX_STATUS_INVALID_ARGUMENT);

  sbx_host_counters hs = {.size = sizeof hs};
  CHECK_STATUS(sbx_host_stats(host, &hs), SBX_STATUS_OK);
  CHECK(hs.size == sizeof hs);
  CHECK(hs.live_modules == 2 && hs.compiled_modules == 1);

  /* Instances outlive their compiled module, and so does what they lend
     (they share its copies of the export names). */
  sbx_function_info lent;
  CHECK_STATUS(sbx_module_function_at(a, 0, &lent), SBX_STATUS_OK);
  sbx_compiled_free(compiled);
  CHECK(call1(a, "add", params, 2) == 42);
  CHECK(lent.name_len == 3 && memcmp(lent.name, "add", 4) == 0);
  CHECK(lent.params_len == 2 && lent.params[0] == SBX_VALUE_TYPE_I32);
  CHECK_STATUS(sbx_host_stats(host, &hs), SBX_STATUS_OK);
  CHECK(hs.compiled_modules == 0);

  /* A compiled module of a closed host cannot be instantiated. */
  compiled = must_compile(host, "add.wasm");
  sbx_close(host);
  CHECK_STATUS(sbx_compiled_instantiate(compiled, "d", 1, NULL, &c, NULL),
               SBX_STATUS_HANDLE_CLOSED);
  CHECK(c == (sbx_module *)0x1);
  sbx_compiled_free(compiled);
  expect_call(a, "add", params, 2, 1, 0, SBX_STATUS_HANDLE_CLOSED);
  sbx_module_free(a);
  sbx_module_free(b);
}

static void test_compile_errors(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_compiled *compiled = (sbx_compiled *)0x1;
  sbx_error *err = NULL;
  CHECK_STATUS_ERR(sbx_compile(host, (const uint8_t *)"nope", 4, 0, NULL,
                               &compiled, &err),
                   SBX_STATUS_COMPILE_ERROR, err);
  CHECK(compiled == (sbx_compiled *)0x1);
  sbx_error_free(err);
  CHECK_STATUS(sbx_compile(NULL, (const uint8_t *)"", 0, 0, NULL, &compiled,
                           NULL),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_compile(host, NULL, 8, 0, NULL, &compiled, NULL),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_compile(host, (const uint8_t *)"", 0, 0, NULL, NULL, NULL),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_compiled_instantiate(NULL, "x", 1, NULL, NULL, NULL),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_compiled_function_count(NULL, NULL),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_compiled_function_at(NULL, 0, NULL),
               SBX_STATUS_INVALID_ARGUMENT);
  sbx_compiled_free(NULL);
  /* A module importing what the host lacks fails at instantiation. */
  compiled = must_compile(host, "unresolved_import.wasm");
  sbx_module *m = NULL;
  CHECK_STATUS(sbx_compiled_instantiate(compiled, "u", 1, NULL, &m, NULL),
               SBX_STATUS_LINK_ERROR);
  sbx_compiled_free(compiled);
  sbx_close(host);
}

static void test_reset(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *m = sbx_test_must_load(host, "reset_state.wasm");
  expect_state(m, 7, 42, 1);
  expect_call(m, "mutate", NULL, 0, 0, 0, SBX_STATUS_OK);
  expect_state(m, 99, 99, 2);
  sbx_error *err = NULL;
  CHECK_STATUS_ERR(sbx_module_reset(m, 0, NULL, &err), SBX_STATUS_OK, err);
  expect_state(m, 7, 42, 1);

  sbx_module_counters ms = {.size = sizeof ms};
  CHECK_STATUS(sbx_module_stats(m, &ms), SBX_STATUS_OK);
  CHECK(ms.resets == 1);
  CHECK(ms.calls == 10);
  CHECK(ms.memory_bytes == 65536 && ms.memory_peak_bytes == 65536);

  CHECK_STATUS(sbx_module_reset(NULL, 0, NULL, NULL),
               SBX_STATUS_INVALID_ARGUMENT);
  sbx_host *other = sbx_test_host(NULL);
  sbx_cancel *foreign = NULL;
  CHECK_STATUS(sbx_cancel_new(other, &foreign), SBX_STATUS_OK);
  CHECK_STATUS(sbx_module_reset(m, 0, foreign, NULL),
               SBX_STATUS_INVALID_ARGUMENT);
  sbx_cancel_free(foreign);
  sbx_close(other);

  CHECK_STATUS(sbx_module_close(m), SBX_STATUS_OK);
  CHECK_STATUS(sbx_module_reset(m, 0, NULL, NULL), SBX_STATUS_HANDLE_CLOSED);
  /* Stats stay readable after close. */
  CHECK_STATUS(sbx_module_stats(m, &ms), SBX_STATUS_OK);
  CHECK(ms.resets == 1 && ms.memory_bytes == 0);
  sbx_module_free(m);
  sbx_close(host);
}

static void test_reset_policies(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_compiled *compiled = must_compile(host, "reset_state.wasm");
  sbx_load_options *options = sbx_load_options_new();
  REQUIRE(options != NULL);
  CHECK_STATUS(sbx_load_options_set_reset_policy(options, 3),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_load_options_set_reset_policy(NULL, 0),
               SBX_STATUS_INVALID_ARGUMENT);

  CHECK_STATUS(sbx_load_options_set_reset_policy(
                   options, SBX_RESET_POLICY_AFTER_FAILURE),
               SBX_STATUS_OK);
  sbx_module *m = instantiate(compiled, "after_failure", options);
  expect_call(m, "mutate", NULL, 0, 0, 0, SBX_STATUS_OK);
  expect_call(m, "mutate_then_trap", NULL, 0, 0, 0, SBX_STATUS_TRAP);
  /* The failed state stays readable until the next call. */
  uint8_t byte = 0;
  CHECK_STATUS(sbx_module_memory_read(m, 0, &byte, 1), SBX_STATUS_OK);
  CHECK(byte == 99);
  expect_state(m, 7, 42, 1);
  sbx_module_free(m);

  CHECK_STATUS(sbx_load_options_set_reset_policy(
                   options, SBX_RESET_POLICY_AFTER_EACH_CALL),
               SBX_STATUS_OK);
  m = instantiate(compiled, "after_each_call", options);
  for (uint64_t input = 1; input <= 20; input++) {
    CHECK(call1(m, "remember", &input, 1) == 0);
  }
  sbx_module_counters ms = {.size = sizeof ms};
  CHECK_STATUS(sbx_module_stats(m, &ms), SBX_STATUS_OK);
  CHECK(ms.calls == 20 && ms.resets == 19);
  sbx_module_free(m);
  sbx_load_options_free(options);
  sbx_compiled_free(compiled);
  sbx_close(host);
}

static void test_host_memory_limit(void) {
  sbx_config *config = new_config();
  /* The setter records; validation says what is wrong. */
  CHECK_STATUS(sbx_config_set_host_memory_limit(config, 1000), SBX_STATUS_OK);
  sbx_error *err = NULL;
  CHECK_STATUS_ERR(sbx_config_validate(config, &err),
                   SBX_STATUS_INVALID_ARGUMENT, err);
  CHECK_CONTAINS(sbx_error_message(err),
                 "host memory limit 1000 is below one 64 KiB page");
  sbx_error_free(err);
  err = NULL;
  CHECK_STATUS(sbx_config_set_host_memory_limit(NULL, 1 << 20),
               SBX_STATUS_INVALID_ARGUMENT);
  /* reset_state has one page; three fit in 192 KiB, a fourth does not. */
  CHECK_STATUS(sbx_config_set_host_memory_limit(config, 3 * 65536),
               SBX_STATUS_OK);
  sbx_host *host = sbx_test_host(config);
  sbx_config_free(config);
  sbx_compiled *compiled = must_compile(host, "reset_state.wasm");
  sbx_module *m[3];
  for (int i = 0; i < 3; i++) m[i] = instantiate(compiled, "m", NULL);
  sbx_module *extra = NULL;
  CHECK_STATUS_ERR(
      sbx_compiled_instantiate(compiled, "extra", 5, NULL, &extra, &err),
      SBX_STATUS_RESOURCE_LIMIT, err);
  CHECK_CONTAINS(sbx_error_message(err), "its memory budget is 196608 bytes");
  sbx_error_free(err);
  sbx_host_counters hs = {.size = sizeof hs};
  CHECK_STATUS(sbx_host_stats(host, &hs), SBX_STATUS_OK);
  CHECK(hs.memory_bytes == 3 * 65536 && hs.memory_limit_bytes == 3 * 65536);
  /* Closing one gives its page back. */
  CHECK_STATUS(sbx_module_close(m[0]), SBX_STATUS_OK);
  CHECK_STATUS(sbx_host_stats(host, &hs), SBX_STATUS_OK);
  CHECK(hs.memory_bytes == 2 * 65536 && hs.memory_peak_bytes == 3 * 65536);
  extra = instantiate(compiled, "extra", NULL);
  sbx_module_free(extra);
  for (int i = 0; i < 3; i++) sbx_module_free(m[i]);
  sbx_compiled_free(compiled);
  sbx_close(host);
}

static void test_stats_sizes(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *m = sbx_test_must_load(host, "add.wasm");
  uint64_t params[2] = {1, 2};
  CHECK(call1(m, "add", params, 2) == 3);
  expect_call(m, "add", params, 1, 1, 0, SBX_STATUS_SIGNATURE_MISMATCH);

  /* An older caller's shorter struct: only the fields that fit are written. */
  struct {
    size_t size;
    uint64_t calls;
    uint64_t canary;
  } old = {.size = sizeof(size_t) + sizeof(uint64_t), .canary = 77};
  CHECK_STATUS(sbx_module_stats(m, (sbx_module_counters *)&old), SBX_STATUS_OK);
  CHECK(old.size == sizeof(size_t) + sizeof(uint64_t));
  CHECK(old.calls == 1); /* the refused call does not count */
  CHECK(old.canary == 77);

  sbx_module_counters ms = {.size = 4};
  CHECK_STATUS(sbx_module_stats(m, &ms), SBX_STATUS_INVALID_ARGUMENT);
  CHECK(ms.size == 4);
  CHECK_STATUS(sbx_module_stats(m, NULL), SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_module_stats(NULL, &ms), SBX_STATUS_INVALID_ARGUMENT);
  sbx_host_counters hs = {.size = 0};
  CHECK_STATUS(sbx_host_stats(host, &hs), SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_host_stats(NULL, &hs), SBX_STATUS_INVALID_ARGUMENT);

  /* A newer caller's longer struct: size comes back as what was filled. */
  struct {
    sbx_host_counters known;
    uint64_t future;
  } newer = {.known = {.size = sizeof newer}, .future = 5};
  CHECK_STATUS(sbx_host_stats(host, (sbx_host_counters *)&newer), SBX_STATUS_OK);
  CHECK(newer.known.size == sizeof(sbx_host_counters));
  CHECK(newer.known.live_modules == 1 && newer.future == 5);
  sbx_module_free(m);
  sbx_close(host);
}

/* ------------------------------------------------------------------ */

const sbx_test_case sbx_tests[] = {
    {"compile_and_instantiate", test_compile_and_instantiate, 0},
    {"compile_errors", test_compile_errors, 0},
    {"reset", test_reset, 0},
    {"reset_policies", test_reset_policies, 0},
    {"host_memory_limit", test_host_memory_limit, 0},
    {"stats_sizes", test_stats_sizes, 0},
};

const size_t sbx_tests_count = sizeof sbx_tests / sizeof sbx_tests[0];
