/*
 * sbx_test_host: host functions (sbx_host_define_func) and what a host
 * function may do with its sbx_caller, driven by the testdata/wasi/plugin
 * reactor, which imports host.shout.
 */
#include "sbx_test.h"

static void test_host_func_plugin(void) {
  shout_state s;
  shout_state_init(&s);
  capture out;
  capture_init(&out);

  sbx_host *host = sbx_test_host(NULL);
  sbx_error *err = NULL;
  CHECK_STATUS_ERR(define_shout(host, &s, &err), SBX_STATUS_OK, err);
  CHECK(err == NULL);
  sbx_error_free(err);

  sbx_wasi_config *w = new_wasi();
  wasi_capture(w, &out, NULL);
  sbx_module *m = must_load_with(host, "wasi/plugin.wasm", w, 0);
  sbx_wasi_config_free(w); /* the module holds its own copy */
  CHECK(out.frees == 0);
  CHECK(s.calls == 0); /* _initialize does not call shout */

  uint64_t addr = 0;
  size_t n = 0;
  CHECK_STATUS(
      sbx_test_call(m, "input_buffer", NULL, 0, &addr, 1, &n, 0, NULL, NULL),
      SBX_STATUS_OK);
  addr = (uint32_t)addr;
  uint64_t mem_size = 0;
  CHECK_STATUS(sbx_module_memory_size(m, &mem_size), SBX_STATUS_OK);
  CHECK(addr > 0 && addr + 4096 <= mem_size);

  uint64_t result = 0;
  err = NULL;
  sbx_status st = greet(m, "world", &result, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_OK, err);
  sbx_error_free(err);
  CHECK(result == 42);
  CHECK_OUTPUT(&out, "hello, world!\n");
  CHECK(s.calls == 1);
  CHECK(s.last_len == 5 && strcmp(s.last, "world") == 0);
  CHECK(s.stack_len_seen >= 2);
  CHECK(s.user_data_seen == 0); /* no sbx_load_options_set_user_data */
  CHECK(s.memory_size_seen == mem_size);
  CHECK_STATUS(s.oob_read, SBX_STATUS_OUT_OF_BOUNDS);
  CHECK_STATUS(s.oob_write, SBX_STATUS_OUT_OF_BOUNDS);
  CHECK_STATUS(s.null_buf, SBX_STATUS_INVALID_ARGUMENT);
  /* shout uppercased the input in guest memory. */
  char back[6] = {0};
  CHECK_STATUS(sbx_module_memory_read(m, addr, (uint8_t *)back, 5),
               SBX_STATUS_OK);
  CHECK(strcmp(back, "WORLD") == 0);

  /* Again, with other input and another result. */
  s.result = -2;
  capture_clear(&out);
  err = NULL;
  st = greet(m, "sbx plugin", &result, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_OK, err);
  sbx_error_free(err);
  CHECK(result == (uint32_t)-1);
  CHECK_OUTPUT(&out, "hello, sbx plugin!\n");
  CHECK(s.calls == 2);
  CHECK(strcmp(s.last, "sbx plugin") == 0);

  /* A function defined later applies to modules loaded later; a second
   * module gets its own memory and WASI output. */
  capture out2;
  capture_init(&out2);
  sbx_wasi_config *w2 = new_wasi();
  wasi_capture(w2, &out2, NULL);
  sbx_module *m2 = must_load_with(host, "wasi/plugin.wasm", w2, 0);
  sbx_wasi_config_free(w2);
  s.result = 9;
  capture_clear(&out);
  err = NULL;
  st = greet(m2, "two", &result, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_OK, err);
  sbx_error_free(err);
  CHECK(result == 10);
  CHECK_OUTPUT(&out2, "hello, two!\n");
  CHECK_OUTPUT(&out, "");
  CHECK(s.calls == 3);

  sbx_module_free(m);
  sbx_module_free(m2);
  CHECK(s.frees == 0); /* the host still holds the function */
  sbx_close(host);
  CHECK(s.frees == 1);
  CHECK(out.frees == 1);
  CHECK(out2.frees == 1);
  capture_destroy(&out);
  capture_destroy(&out2);
}

static void test_host_func_error(void) {
  shout_state s;
  shout_state_init(&s);
  sbx_host *host = sbx_test_host(NULL);
  CHECK_STATUS(define_shout(host, &s, NULL), SBX_STATUS_OK);
  sbx_wasi_config *w = new_wasi();
  sbx_module *m = must_load_with(host, "wasi/plugin.wasm", w, 0);
  sbx_wasi_config_free(w);

  /* With sbx_caller_set_error: that message. */
  s.fail_mode = 1;
  sbx_error *err = NULL;
  uint64_t result = 12345;
  sbx_status st = greet(m, "loud", &result, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_HOST_ERROR, err);
  CHECK(result == 12345);
  REQUIRE(err != NULL);
  printf("host error: %s\n", sbx_error_message(err));
  CHECK_CONTAINS(sbx_error_message(err), "shout refused: too loud");
  CHECK_NOT_CONTAINS(sbx_error_message(err), "\n");
  int32_t code = 5;
  CHECK_STATUS(sbx_error_exit_code(err, &code), SBX_STATUS_INVALID_ARGUMENT);
  CHECK(code == 5);
  sbx_error_free(err);

  /* Without it: a message naming the function and the code. */
  s.fail_mode = 2;
  err = NULL;
  st = greet(m, "quiet", &result, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_HOST_ERROR, err);
  REQUIRE(err != NULL);
  printf("host error: %s\n", sbx_error_message(err));
  CHECK_CONTAINS(sbx_error_message(err), "shout");
  CHECK_CONTAINS(sbx_error_message(err), "3");
  /* The message set by the earlier call does not leak into this one. */
  CHECK_NOT_CONTAINS(sbx_error_message(err), "too loud");
  sbx_error_free(err);

  /* The module is still usable. */
  s.fail_mode = 0;
  err = NULL;
  st = greet(m, "again", &result, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_OK, err);
  sbx_error_free(err);
  CHECK(result == 42);
  CHECK(strcmp(s.last, "again") == 0);
  CHECK(s.calls == 3);

  sbx_module_free(m);
  sbx_close(host);
  CHECK(s.frees == 1);
}

static void test_host_func_bad_types(void) {
  sbx_host *host = sbx_test_host(NULL);
  const uint8_t v128[1] = {SBX_VALUE_TYPE_V128};
  const uint8_t funcref[1] = {SBX_VALUE_TYPE_FUNC_REF};
  const uint8_t junk[1] = {200};

  struct {
    const uint8_t *params;
    size_t nparams;
    const uint8_t *results;
    size_t nresults;
  } bad[] = {
      {v128, 1, I32, 1},
      {I32, 1, v128, 1},
      {funcref, 1, NULL, 0},
      {I32, 1, junk, 1},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    shout_state s;
    shout_state_init(&s);
    sbx_error *err = NULL;
    sbx_status st = sbx_host_define_func(
        host, "host", 4, "bad", 3, bad[i].params, bad[i].nparams,
        bad[i].results, bad[i].nresults, shout_cb, &s, shout_free, &err);
    CHECK_STATUS_ERR(st, SBX_STATUS_INVALID_ARGUMENT, err);
    CHECK(err != NULL && sbx_error_status(err) == SBX_STATUS_INVALID_ARGUMENT);
    if (i == 0 && err) printf("v128 param: %s\n", sbx_error_message(err));
    sbx_error_free(err);
    CHECK(s.frees == 1); /* right away, on failure */
  }

  /* NULL callback, bad names: refused, user data freed at once (the error
   * out-param is optional). */
  {
    shout_state s;
    shout_state_init(&s);
    CHECK_STATUS(sbx_host_define_func(host, "host", 4, "f", 1, I32, 1,
                                      I32, 1, NULL, &s, shout_free, NULL),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK(s.frees == 1);
    CHECK_STATUS(sbx_host_define_func(host, "host", 4, "\xff", 1, I32,
                                      1, I32, 1, shout_cb, &s, shout_free,
                                      NULL),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK(s.frees == 2);
    CHECK_STATUS(sbx_host_define_func(NULL, "host", 4, "f", 1, I32, 1,
                                      I32, 1, shout_cb, &s, shout_free, NULL),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK(s.frees == 3);
    CHECK_STATUS(sbx_host_define_func(host, "host", 4, "f", 1, NULL, 2,
                                      I32, 1, shout_cb, &s, shout_free, NULL),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK(s.frees == 4);
  }

  /* One of WASI's own names: refused as a duplicate and freed at once, and
   * defined nowhere, not even for modules without WASI. */
  {
    static const uint8_t I32x4[] = {SBX_VALUE_TYPE_I32, SBX_VALUE_TYPE_I32,
                                    SBX_VALUE_TYPE_I32, SBX_VALUE_TYPE_I32};
    shout_state s;
    shout_state_init(&s);
    CHECK_STATUS(sbx_host_define_func(host, "wasi_snapshot_preview1", 22,
                                      "fd_write", 8, I32x4, 4, I32, 1,
                                      shout_cb, &s, shout_free, NULL),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK(s.frees == 1);
  }

  /* A duplicate name: the first stays, the second is refused and freed. */
  shout_state first, second;
  shout_state_init(&first);
  shout_state_init(&second);
  CHECK_STATUS(define_shout(host, &first, NULL), SBX_STATUS_OK);
  sbx_error *err = NULL;
  sbx_status st = define_shout(host, &second, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_INVALID_ARGUMENT, err);
  CHECK(err != NULL);
  if (err) printf("duplicate: %s\n", sbx_error_message(err));
  sbx_error_free(err);
  CHECK(second.frees == 1);
  CHECK(first.frees == 0);
  /* Same name with another signature: still a duplicate. */
  shout_state third;
  shout_state_init(&third);
  CHECK_STATUS(sbx_host_define_func(host, "host", 4, "shout", 5, I32,
                                    1, NULL, 0, shout_cb, &third, shout_free,
                                    NULL),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK(third.frees == 1);

  /* The first definition is the one the plugin calls. */
  sbx_wasi_config *w = new_wasi();
  sbx_module *m = must_load_with(host, "wasi/plugin.wasm", w, 0);
  sbx_wasi_config_free(w);
  uint64_t result = 0;
  err = NULL;
  CHECK_STATUS_ERR(greet(m, "dup", &result, &err), SBX_STATUS_OK, err);
  sbx_error_free(err);
  CHECK(result == 42);
  CHECK(first.calls == 1 && second.calls == 0 && third.calls == 0);
  sbx_module_free(m);
  sbx_close(host);
  CHECK(first.frees == 1 && second.frees == 1 && third.frees == 1);

  /* An import whose signature differs from the definition cannot link. */
  sbx_host *host2 = sbx_test_host(NULL);
  shout_state wrong;
  shout_state_init(&wrong);
  const uint8_t i64_i64[2] = {SBX_VALUE_TYPE_I64, SBX_VALUE_TYPE_I64};
  CHECK_STATUS(sbx_host_define_func(host2, "host", 4, "shout", 5,
                                    i64_i64, 2, I32, 1, shout_cb, &wrong,
                                    shout_free, NULL),
               SBX_STATUS_OK);
  w = new_wasi();
  m = NULL;
  err = NULL;
  st = load_with(host2, "wasi/plugin.wasm", w, 0, &m, &err);
  sbx_wasi_config_free(w);
  CHECK_STATUS_ERR(st, SBX_STATUS_LINK_ERROR, err);
  if (err) {
    printf("wrong signature: %s\n", sbx_error_message(err));
    CHECK_CONTAINS(sbx_error_message(err), "shout");
  }
  sbx_error_free(err);
  sbx_module_free(m);

  /* Without any definition, loading the plugin names the missing import. */
  sbx_host *host3 = sbx_test_host(NULL);
  w = new_wasi();
  m = NULL;
  err = NULL;
  st = load_with(host3, "wasi/plugin.wasm", w, 0, &m, &err);
  sbx_wasi_config_free(w);
  CHECK_STATUS_ERR(st, SBX_STATUS_LINK_ERROR, err);
  if (err) CHECK_CONTAINS(sbx_error_message(err), "shout");
  sbx_error_free(err);
  sbx_module_free(m);
  sbx_close(host3);

  sbx_close(host2);
  CHECK(wrong.frees == 1);
}

static void test_host_func_user_data(void) {
  shout_state s;
  shout_state_init(&s);
  sbx_host *host = sbx_test_host(NULL);
  CHECK_STATUS(define_shout(host, &s, NULL), SBX_STATUS_OK);
  sbx_wasi_config *w = new_wasi();
  sbx_module *a = must_load_with(host, "wasi/plugin.wasm", w, 1111);
  sbx_module *b =
      must_load_with(host, "wasi/plugin.wasm", w, UINT64_C(0xfedcba9876543210));
  sbx_module *c = must_load_with(host, "wasi/plugin.wasm", w, 0);
  sbx_wasi_config_free(w);

  uint64_t result = 0;
  s.user_data_seen = 77;
  CHECK_STATUS(greet(a, "a", &result, NULL), SBX_STATUS_OK);
  CHECK(s.user_data_seen == 1111);
  CHECK_STATUS(greet(b, "b", &result, NULL), SBX_STATUS_OK);
  CHECK(s.user_data_seen == UINT64_C(0xfedcba9876543210));
  CHECK_STATUS(greet(c, "c", &result, NULL), SBX_STATUS_OK);
  CHECK(s.user_data_seen == 0);
  CHECK_STATUS(greet(a, "a", &result, NULL), SBX_STATUS_OK);
  CHECK(s.user_data_seen == 1111);
  CHECK(s.calls == 4);

  /* NULL arguments of the caller functions. */
  uint64_t v = 5;
  CHECK_STATUS(sbx_caller_user_data(NULL, &v), SBX_STATUS_INVALID_ARGUMENT);
  CHECK(v == 5);
  CHECK_STATUS(sbx_caller_memory_size(NULL, &v), SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_caller_memory_read(NULL, 0, (uint8_t *)&v, 1),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_caller_memory_write(NULL, 0, (const uint8_t *)&v, 1),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_caller_set_error(NULL, "x", 1),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_load_options_set_user_data(NULL, 1),
               SBX_STATUS_INVALID_ARGUMENT);

  sbx_module_free(a);
  sbx_module_free(b);
  sbx_module_free(c);
  sbx_close(host);
  CHECK(s.frees == 1);
}

/* sbx_caller_* refuse lengths above PTRDIFF_MAX too (test_huge_lengths in
 * test_sbx.c covers every other function). */
typedef struct huge_state {
  int calls;
  uint8_t buf[4];
} huge_state;

static int32_t huge_cb(void *user_data, sbx_caller *caller, uint64_t *stack,
                       size_t stack_len) {
  huge_state *s = user_data;
  s->calls++;
  const size_t huge[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1};
  for (size_t i = 0; i < 2; i++) {
    CHECK_STATUS(sbx_caller_memory_read(caller, 0, s->buf, huge[i]),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK(s->buf[0] == 0xa5 && s->buf[3] == 0xa5);
    CHECK_STATUS(sbx_caller_memory_write(caller, 0, s->buf, huge[i]),
                 SBX_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(sbx_caller_set_error(caller, (const char *)s->buf, huge[i]),
                 SBX_STATUS_INVALID_ARGUMENT);
  }
  if (stack_len >= 1) stack[0] = 0;
  return 0;
}

static void test_caller_huge_lengths(void) {
  huge_state s = {.calls = 0, .buf = {0xa5, 0xa5, 0xa5, 0xa5}};
  sbx_host *host = sbx_test_host(NULL);
  sbx_error *err = NULL;
  CHECK_STATUS_ERR(sbx_host_define_func(host, "host", 4, "shout", 5,
                                        I32_I32, 2, I32, 1, huge_cb, &s, NULL,
                                        &err),
                   SBX_STATUS_OK, err);
  sbx_error_free(err);
  sbx_wasi_config *w = new_wasi();
  sbx_module *m = must_load_with(host, "wasi/plugin.wasm", w, 0);
  uint64_t result = 0;
  err = NULL;
  CHECK_STATUS_ERR(greet(m, "x", &result, &err), SBX_STATUS_OK, err);
  sbx_error_free(err);
  CHECK(s.calls == 1);
  CHECK(result == 1); /* huge_cb returned 0; greet adds 1 */
  sbx_module_free(m);
  sbx_wasi_config_free(w);
  sbx_close(host);
}
/* ------------------------------------------------------------------ */

const sbx_test_case sbx_tests[] = {
    {"host_func_plugin", test_host_func_plugin, 0},
    {"host_func_error", test_host_func_error, 0},
    {"host_func_bad_types", test_host_func_bad_types, 0},
    {"host_func_user_data", test_host_func_user_data, 0},
    {"caller_huge_lengths", test_caller_huge_lengths, 0},
};

const size_t sbx_tests_count = sizeof sbx_tests / sizeof sbx_tests[0];
