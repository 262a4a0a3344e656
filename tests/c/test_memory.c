/*
 * sbx_test_memory: guest memory: the per-module memory limit, and reading
 * and writing a module's memory from the embedder.
 */
#include "sbx_test.h"

#include <unistd.h>

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

/* --- guest memory from the embedder --- */

static void test_memory(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *m = sbx_test_must_load(host, "memory_bomb.wasm");
  const uint64_t page = 65536;

  uint64_t size = 0;
  CHECK_STATUS(sbx_module_memory_size(m, &size), SBX_STATUS_OK);
  CHECK(size == page);

  /* In bounds: fresh memory is zero; writes read back, up to the last byte. */
  uint8_t buf[16];
  memset(buf, 0xAA, sizeof buf);
  CHECK_STATUS(sbx_module_memory_read(m, 0, buf, sizeof buf), SBX_STATUS_OK);
  for (size_t i = 0; i < sizeof buf; i++) CHECK(buf[i] == 0);
  CHECK_STATUS(sbx_module_memory_write(m, 100, u8("abcdef"), 6),
               SBX_STATUS_OK);
  CHECK_STATUS(sbx_module_memory_write(m, page - 4, u8("WXYZ"), 4),
               SBX_STATUS_OK);
  memset(buf, 0, sizeof buf);
  CHECK_STATUS(sbx_module_memory_read(m, 100, buf, 6), SBX_STATUS_OK);
  CHECK(memcmp(buf, "abcdef", 6) == 0);
  CHECK_STATUS(sbx_module_memory_read(m, page - 4, buf, 4), SBX_STATUS_OK);
  CHECK(memcmp(buf, "WXYZ", 4) == 0);
  CHECK_STATUS(sbx_module_memory_read(m, page - 1, buf, 1), SBX_STATUS_OK);
  CHECK(buf[0] == 'Z');
  /* The whole memory at once. */
  uint8_t *all = malloc(page);
  REQUIRE(all != NULL);
  CHECK_STATUS(sbx_module_memory_read(m, 0, all, page), SBX_STATUS_OK);
  CHECK(memcmp(all + 100, "abcdef", 6) == 0);
  CHECK(memcmp(all + page - 4, "WXYZ", 4) == 0);
  free(all);

  /* Out of bounds: nothing is copied either way. */
  struct {
    uint64_t offset;
    size_t len;
  } oob[] = {
      {page - 1, 2},   {page - 3, 4},        {page, 1},
      {page + 1, 1},   {UINT64_MAX, 1},      {UINT64_MAX - 1, 4},
      {UINT64_MAX, 0}, {(uint64_t)1 << 32, 1}, {(uint64_t)1 << 40, 16},
      {0, page + 1},   {1, page},
  };
  for (size_t i = 0; i < sizeof oob / sizeof oob[0]; i++) {
    uint8_t *b = malloc(oob[i].len ? oob[i].len : 1);
    REQUIRE(b != NULL);
    memset(b, 0xAA, oob[i].len ? oob[i].len : 1);
    sbx_status st = sbx_module_memory_read(m, oob[i].offset, b, oob[i].len);
    if (st != SBX_STATUS_OUT_OF_BOUNDS)
      FAIL_AT(__FILE__, __LINE__, "read(offset=%llu, len=%zu): %s",
              (unsigned long long)oob[i].offset, oob[i].len,
              sbx_status_name(st));
    for (size_t j = 0; j < oob[i].len; j++)
      if (b[j] != 0xAA) {
        FAIL_AT(__FILE__, __LINE__, "read %zu copied bytes", i);
        break;
      }
    memset(b, 0x55, oob[i].len ? oob[i].len : 1);
    st = sbx_module_memory_write(m, oob[i].offset, b, oob[i].len);
    if (st != SBX_STATUS_OUT_OF_BOUNDS)
      FAIL_AT(__FILE__, __LINE__, "write(offset=%llu, len=%zu): %s",
              (unsigned long long)oob[i].offset, oob[i].len,
              sbx_status_name(st));
    free(b);
  }
  /* The partial writes above changed nothing. */
  CHECK_STATUS(sbx_module_memory_read(m, page - 4, buf, 4), SBX_STATUS_OK);
  CHECK(memcmp(buf, "WXYZ", 4) == 0);
  CHECK_STATUS(sbx_module_memory_read(m, 0, buf, 4), SBX_STATUS_OK);
  CHECK(buf[0] == 0 && buf[1] == 0 && buf[2] == 0 && buf[3] == 0);

  /* NULL arguments. */
  CHECK_STATUS(sbx_module_memory_size(NULL, &size), SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_module_memory_size(m, NULL), SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_module_memory_read(NULL, 0, buf, 1),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_module_memory_read(m, 0, NULL, 1),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_module_memory_write(NULL, 0, buf, 1),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_module_memory_write(m, 0, NULL, 1),
               SBX_STATUS_INVALID_ARGUMENT);

  /* Growing: grow(2) returns the old page count; the new pages are usable. */
  uint64_t two = 2, result = 0;
  size_t n = 0;
  CHECK_STATUS(sbx_test_call(m, "grow", &two, 1, &result, 1, &n, 0, NULL, NULL),
               SBX_STATUS_OK);
  CHECK(n == 1 && (uint32_t)result == 1);
  CHECK_STATUS(sbx_module_memory_size(m, &size), SBX_STATUS_OK);
  CHECK(size == 3 * page);
  CHECK_STATUS(sbx_module_memory_write(m, page - 1, u8("ab"), 2),
               SBX_STATUS_OK); /* now in bounds, across a page boundary */
  CHECK_STATUS(sbx_module_memory_write(m, 3 * page - 3, u8("end"), 3),
               SBX_STATUS_OK);
  memset(buf, 0, sizeof buf);
  CHECK_STATUS(sbx_module_memory_read(m, 3 * page - 3, buf, 3), SBX_STATUS_OK);
  CHECK(memcmp(buf, "end", 3) == 0);
  CHECK_STATUS(sbx_module_memory_read(m, page - 1, buf, 2), SBX_STATUS_OK);
  CHECK(memcmp(buf, "ab", 2) == 0);
  CHECK_STATUS(sbx_module_memory_read(m, 3 * page - 3, buf, 4),
               SBX_STATUS_OUT_OF_BOUNDS);
  CHECK_STATUS(sbx_module_memory_read(m, 3 * page, buf, 1),
               SBX_STATUS_OUT_OF_BOUNDS);

  /* A module without memory. */
  sbx_module *add = sbx_test_must_load(host, "add.wasm");
  CHECK_STATUS(sbx_module_memory_size(add, &size), SBX_STATUS_EXPORT_NOT_FOUND);
  CHECK_STATUS(sbx_module_memory_read(add, 0, buf, 1),
               SBX_STATUS_EXPORT_NOT_FOUND);
  CHECK_STATUS(sbx_module_memory_write(add, 0, buf, 1),
               SBX_STATUS_EXPORT_NOT_FOUND);

  /* A closed module. */
  CHECK_STATUS(sbx_module_close(m), SBX_STATUS_OK);
  CHECK_STATUS(sbx_module_memory_size(m, &size), SBX_STATUS_HANDLE_CLOSED);
  CHECK_STATUS(sbx_module_memory_read(m, 0, buf, 1), SBX_STATUS_HANDLE_CLOSED);
  CHECK_STATUS(sbx_module_memory_write(m, 0, buf, 1), SBX_STATUS_HANDLE_CLOSED);

  sbx_module_free(add);
  sbx_module_free(m);
  sbx_close(host);
}
/* ------------------------------------------------------------------ */

const sbx_test_case sbx_tests[] = {
    {"memory_limit", test_memory_limit, 0},
    {"memory_limit_is_per_module", test_memory_limit_is_per_module, 0},
    {"memory", test_memory, 0},
};

const size_t sbx_tests_count = sizeof sbx_tests / sizeof sbx_tests[0];
