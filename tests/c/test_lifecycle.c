/*
 * sbx_test_lifecycle: stopping and ending things while they run, and
 * sharing them: interrupts, cancel tokens, closing modules and hosts under
 * a running call, threads, max_modules and the pooling allocator.
 */
#include "sbx_test.h"

#include <pthread.h>
#include <stdatomic.h>

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
  st = sbx_load_module(host, "start_loop", 10, wasm, len,
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
  CHECK_STATUS(sbx_config_set_pooling(config, true), SBX_STATUS_OK);
  sbx_host *refused = NULL;
  err = NULL;
  CHECK_STATUS_ERR(sbx_host_new(config, &refused, &err),
                   SBX_STATUS_INVALID_ARGUMENT, err);
  CHECK(refused == NULL);
  CHECK(err && strcmp(sbx_error_message(err),
                      "a pooled host has at most 4096 slots, not 4097") == 0);
  sbx_error_free(err);
  sbx_config_free(config);
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
/* ------------------------------------------------------------------ */

const sbx_test_case sbx_tests[] = {
    {"interrupt", test_interrupt, SBX_TEST_SERIAL},
    {"cancel", test_cancel, SBX_TEST_SERIAL},
    {"close_during_call", test_close_during_call, SBX_TEST_SERIAL},
    {"close_host", test_close_host, SBX_TEST_SERIAL},
    {"double_close", test_double_close, 0},
    {"max_modules", test_max_modules, 0},
    {"pooling", test_pooling, 0},
    {"threads", test_threads, 0},
};

const size_t sbx_tests_count = sizeof sbx_tests / sizeof sbx_tests[0];
