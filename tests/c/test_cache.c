/*
 * sbx_test_cache: the on-disk cache of compiled modules (cache_dir).
 * Temporary directories live under $TMPDIR (or /tmp) with unique names and
 * are removed by each test.
 */
#include "sbx_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

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
  CHECK_STATUS(sbx_config_set_cache_dir(config, dir,
                                        strlen(dir)),
               SBX_STATUS_OK);
  sbx_host *host = sbx_test_host(config);
  sbx_config_free(config);
  return host;
}

static const char *source_name(sbx_cache_source s) {
  switch (s) {
    case SBX_CACHE_SOURCE_COMPILED: return "compiled";
    case SBX_CACHE_SOURCE_MEMORY: return "memory";
    case SBX_CACHE_SOURCE_DISK: return "disk";
  }
  return "?";
}

#define CHECK_SOURCE(m, want)                                                 \
  do {                                                                        \
    sbx_cache_source got_ = 0xff;                                             \
    CHECK_STATUS(sbx_module_cache_source((m), &got_), SBX_STATUS_OK);         \
    if (got_ != (want))                                                       \
      FAIL_AT(__FILE__, __LINE__, "cache source %s (%d), want %s",            \
              source_name(got_), (int)got_, source_name(want));               \
  } while (0)

/* In a new host on `dir`: the first load of add.wasm finds its code as
 * `want` says, and a second load finds it in the host's memory. */
static void load_add_and_check(const char *dir, sbx_cache_source want) {
  sbx_host *host = cache_host(dir);
  sbx_module *m = sbx_test_must_load(host, "add.wasm");
  CHECK_SOURCE(m, want);
  uint64_t params[2] = {2, 3};
  CHECK(call1(m, "add", params, 2) == 5);
  sbx_module *again = sbx_test_must_load(host, "add.wasm");
  CHECK_SOURCE(again, SBX_CACHE_SOURCE_MEMORY);
  sbx_module_free(again);
  /* Closed, the module still says where it came from. */
  CHECK_STATUS(sbx_module_close(m), SBX_STATUS_OK);
  CHECK_SOURCE(m, want);
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
  /* host1: compiles and writes */
  load_add_and_check(dir, SBX_CACHE_SOURCE_COMPILED);
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

  /* host2: a hit from disk */
  load_add_and_check(dir, SBX_CACHE_SOURCE_DISK);
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
  load_add_and_check(dir, SBX_CACHE_SOURCE_COMPILED);

  /* Truncate it: still a miss, not a crash. */
  REQUIRE(truncate(files[0], st1.st_size / 3) == 0);
  load_add_and_check(dir, SBX_CACHE_SOURCE_COMPILED);
  REQUIRE(truncate(files[0], 0) == 0);
  load_add_and_check(dir, SBX_CACHE_SOURCE_COMPILED);

  /* Replace it with garbage of the same size. */
  {
    FILE *f = fopen(files[0], "wb");
    REQUIRE(f != NULL);
    for (off_t i = 0; i < st1.st_size; i++) fputc((int)(i * 7 + 3), f);
    fclose(f);
  }
  load_add_and_check(dir, SBX_CACHE_SOURCE_COMPILED);
  /* ... which wrote a good file again: a hit from disk. */
  load_add_and_check(dir, SBX_CACHE_SOURCE_DISK);

  /* A cache dir that cannot be created: SBX_STATUS_IO. */
  char blocker[4096 + 16], bad[4096 + 32];
  snprintf(blocker, sizeof blocker, "%s/file", base);
  FILE *f = fopen(blocker, "w");
  REQUIRE(f != NULL);
  fclose(f);
  snprintf(bad, sizeof bad, "%s/sub", blocker);
  sbx_config *config = new_config();
  CHECK_STATUS(sbx_config_set_cache_dir(config, bad,
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

struct cache_load {
  const char *dir;
  sbx_cache_source want;
  atomic_int done;
};

static void *run_cache_load(void *arg) {
  struct cache_load *c = arg;
  load_add_and_check(c->dir, c->want);
  atomic_store(&c->done, 1);
  return NULL;
}

/* load_add_and_check on another thread; fails rather than hangs. */
static void load_add_within_bound(const char *dir, sbx_cache_source want) {
  struct cache_load c = {.dir = dir, .want = want};
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
  load_add_and_check(dir, SBX_CACHE_SOURCE_COMPILED);
  REQUIRE(find_cwasm(dir, files, 2) == 1);

  /* FIFOs: opening one for reading would wait for a writer forever. */
  replace_cache_pair(files[0], make_fifo);
  load_add_within_bound(dir, SBX_CACHE_SOURCE_COMPILED);
  struct stat st;
  REQUIRE(stat(files[0], &st) == 0);
  CHECK(S_ISREG(st.st_mode)); /* the compile wrote a good file back */
  load_add_within_bound(dir, SBX_CACHE_SOURCE_DISK);

  /* Directories: a miss every time (renaming over them fails). */
  replace_cache_pair(files[0], make_dir);
  load_add_within_bound(dir, SBX_CACHE_SOURCE_COMPILED);
  load_add_within_bound(dir, SBX_CACHE_SOURCE_COMPILED);
  REQUIRE(stat(files[0], &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  rm_rf(dir);
}
/* ------------------------------------------------------------------ */

const sbx_test_case sbx_tests[] = {
    {"disk_cache", test_disk_cache, 0},
    {"disk_cache_not_a_file", test_disk_cache_not_a_file, 0},
};

const size_t sbx_tests_count = sizeof sbx_tests / sizeof sbx_tests[0];
