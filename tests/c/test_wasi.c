/*
 * sbx_test_wasi: WASI: arguments, environment, preopened directories,
 * stdin/stdout/stderr, exit codes, output limits, timeouts and sleeps.
 *
 * Guests are the WASI programs in testdata/wasi (see its README): commands
 * run by calling their `_start` export, and the `plugin` reactor, which
 * imports host.shout. Temporary directories live under $TMPDIR (or /tmp)
 * with unique names and are removed by each test.
 */
#include "sbx_test.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

static void wasi_arg(sbx_wasi_config *w, const char *arg) {
  CHECK_STATUS(sbx_wasi_config_add_arg(w, arg, strlen(arg)), SBX_STATUS_OK);
}

static void wasi_preopen(sbx_wasi_config *w, const char *host_dir,
                         const char *guest_dir, bool writable) {
  CHECK_STATUS(sbx_wasi_config_add_preopen_dir(w, host_dir, strlen(host_dir),
                                           guest_dir, strlen(guest_dir),
                                           writable),
               SBX_STATUS_OK);
}

/* A WASI config with the env key `key` (`key_len` bytes) is refused, with
 * `want` as the message, by sbx_wasi_config_validate and by a load given
 * it. */
static void check_wasi_refused(const char *key, size_t key_len,
                               const char *want) {
  sbx_wasi_config *w = new_wasi();
  CHECK_STATUS(sbx_wasi_config_add_env(w, key, key_len, "x", 1),
               SBX_STATUS_OK);
  sbx_error *e = NULL;
  CHECK_STATUS_ERR(sbx_wasi_config_validate(w, &e),
                   SBX_STATUS_INVALID_ARGUMENT, e);
  CHECK(e && strcmp(sbx_error_message(e), want) == 0);
  if (e) printf("refused: %s\n", sbx_error_message(e));
  sbx_error_free(e);
  e = NULL;
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *m = NULL;
  CHECK_STATUS_ERR(load_with(host, "wasi/hello.wasm", w, 0, &m, &e),
                   SBX_STATUS_INVALID_ARGUMENT, e);
  CHECK(m == NULL);
  CHECK(e && strcmp(sbx_error_message(e), want) == 0);
  sbx_error_free(e);
  sbx_close(host);
  sbx_wasi_config_free(w);
}

/* Runs a command's `_start`; exit code 0 is SBX_STATUS_OK with no results. */
static sbx_status run_start(const sbx_module *m, uint64_t timeout_ns,
                            sbx_error **err_out) {
  uint64_t results[1] = {0};
  size_t n = 12345;
  sbx_status st = sbx_test_call(m, "_start", NULL, 0, results, 1, &n,
                                timeout_ns, NULL, err_out);
  if (st == SBX_STATUS_OK) CHECK(n == 0);
  return st;
}

/* The exit code of an SBX_STATUS_EXIT error, or -1000 if there is none. */
static int32_t exit_code(const sbx_error *err) {
  int32_t code = -1000;
  if (sbx_error_exit_code(err, &code) != SBX_STATUS_OK) return -1000;
  return code;
}

/*
 * Runs testdata/wasi/<prog>.wasm as a command on a fresh default host with
 * `wasi`, and returns _start's status. `*code_out` gets 0 on success, the
 * exit code on SBX_STATUS_EXIT, -1 otherwise. The error is freed here.
 */
static sbx_status run_command(const char *prog, const sbx_wasi_config *wasi,
                              int32_t *code_out) {
  char fixture[256];
  snprintf(fixture, sizeof fixture, "wasi/%s.wasm", prog);
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *m = must_load_with(host, fixture, wasi, 0);
  sbx_error *err = NULL;
  sbx_status st = run_start(m, MS_TO_NS(60000), &err);
  int32_t code = -1;
  if (st == SBX_STATUS_OK) code = 0;
  if (st == SBX_STATUS_EXIT) code = exit_code(err);
  if (st != SBX_STATUS_OK && st != SBX_STATUS_EXIT)
    fprintf(stderr, "%s: _start: %s: %s\n", prog, sbx_status_name(st),
            err ? sbx_error_message(err) : "(no error)");
  sbx_error_free(err);
  sbx_module_free(m);
  sbx_close(host);
  if (code_out) *code_out = code;
  return st;
}

static void make_dir(const char *path) { REQUIRE(mkdir(path, 0755) == 0); }

/* ------------------------------------------------------------------ */
/* WASI tests                                                           */

static void test_wasi_hello(void) {
  capture out, err;
  capture_init(&out);
  capture_init(&err);
  sbx_wasi_config *w = new_wasi();
  wasi_capture(w, &out, &err);
  int32_t code = -1;
  CHECK_STATUS(run_command("hello", w, &code), SBX_STATUS_OK);
  CHECK(code == 0);
  CHECK_OUTPUT(&out, "hello from wasi\n");
  CHECK_OUTPUT(&err, "warning: to stderr\n");

  /* Run again from the same config: its copies are independent. */
  capture_clear(&out);
  capture_clear(&err);
  CHECK_STATUS(run_command("hello", w, &code), SBX_STATUS_OK);
  CHECK_OUTPUT(&out, "hello from wasi\n");
  CHECK_OUTPUT(&err, "warning: to stderr\n");

  /* Only stdout captured: stderr is discarded, stdout still arrives. */
  capture only_out;
  capture_init(&only_out);
  sbx_wasi_config *w2 = new_wasi();
  wasi_capture(w2, &only_out, NULL);
  CHECK_STATUS(run_command("hello", w2, NULL), SBX_STATUS_OK);
  CHECK_OUTPUT(&only_out, "hello from wasi\n");

  /* Nothing captured at all: runs fine, output discarded. */
  sbx_wasi_config *w3 = new_wasi();
  CHECK_STATUS(run_command("hello", w3, NULL), SBX_STATUS_OK);

  sbx_wasi_config_free(w);
  sbx_wasi_config_free(w2);
  sbx_wasi_config_free(w3);
  CHECK(out.frees == 1 && err.frees == 1 && only_out.frees == 1);
  capture_destroy(&out);
  capture_destroy(&err);
  capture_destroy(&only_out);
}

static void test_wasi_exit_code(void) {
  capture out;
  capture_init(&out);
  sbx_wasi_config *w = new_wasi();
  wasi_capture(w, &out, NULL);
  sbx_host *host = sbx_test_host(NULL);
  sbx_module *m = must_load_with(host, "wasi/exit3.wasm", w, 0);

  sbx_error *err = NULL;
  uint64_t results[1] = {77};
  size_t n = 12345;
  sbx_status st = sbx_test_call(m, "_start", NULL, 0, results, 1, &n,
                                MS_TO_NS(60000), NULL, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_EXIT, err);
  CHECK(n == 12345 && results[0] == 77); /* nothing written on failure */
  REQUIRE(err != NULL);
  int32_t code = -1;
  CHECK_STATUS(sbx_error_exit_code(err, &code), SBX_STATUS_OK);
  CHECK(code == 3);
  CHECK(sbx_error_trap_code(err) == SBX_TRAP_CODE_NONE);
  CHECK(sbx_error_message(err) != NULL && sbx_error_message(err)[0] != '\0');
  printf("exit3: %s\n", sbx_error_message(err));
  CHECK_STATUS(sbx_error_exit_code(err, NULL), SBX_STATUS_INVALID_ARGUMENT);
  sbx_error_free(err);
  /* exit() flushed stdout first. */
  CHECK_OUTPUT(&out, "exiting with 3\n");
  /* The module stays usable after an exit: it runs (and exits) again. */
  err = NULL;
  st = sbx_test_call(m, "_start", NULL, 0, results, 1, &n, MS_TO_NS(60000),
                     NULL, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_EXIT, err);
  CHECK(exit_code(err) == 3);
  sbx_error_free(err);

  /* sbx_error_exit_code on NULL and on errors that are not exits. */
  code = 99;
  CHECK_STATUS(sbx_error_exit_code(NULL, &code), SBX_STATUS_INVALID_ARGUMENT);
  CHECK(code == 99);
  sbx_module *add = sbx_test_must_load(host, "add.wasm");
  err = NULL;
  st = sbx_test_call(add, "nope", NULL, 0, NULL, 0, NULL, 0, NULL, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_EXPORT_NOT_FOUND, err);
  CHECK_STATUS(sbx_error_exit_code(err, &code), SBX_STATUS_INVALID_ARGUMENT);
  CHECK(code == 99);
  sbx_error_free(err);

  /* Exit code 0 is success with no results (hello returns from main). */
  sbx_module *hello = must_load_with(host, "wasi/hello.wasm", w, 0);
  capture_clear(&out);
  CHECK_STATUS(run_start(hello, MS_TO_NS(60000), NULL), SBX_STATUS_OK);
  CHECK_OUTPUT(&out, "hello from wasi\n");

  sbx_module_free(hello);
  sbx_module_free(add);
  sbx_module_free(m);
  sbx_close(host);
  sbx_wasi_config_free(w);
  CHECK(out.frees == 1);
  capture_destroy(&out);
}

static void test_wasi_deny_by_default(void) {
  /* No preopen: cat cannot open /data/input.txt. */
  capture out, err;
  capture_init(&out);
  capture_init(&err);
  sbx_wasi_config *w = new_wasi();
  wasi_capture(w, &out, &err);
  int32_t code = -1;
  CHECK_STATUS(run_command("cat", w, &code), SBX_STATUS_EXIT);
  CHECK(code == 1);
  CHECK_OUTPUT(&out, "");
  CHECK_CONTAINS(capture_str(&err), "cat: /data/input.txt: ");
  printf("cat without a preopen: %s", capture_str(&err));

  /* Nor an absolute host path. */
  capture_clear(&out);
  capture_clear(&err);
  sbx_wasi_config *w2 = new_wasi();
  wasi_capture(w2, &out, &err);
  wasi_arg(w2, "cat");
  wasi_arg(w2, "/etc/passwd");
  CHECK_STATUS(run_command("cat", w2, &code), SBX_STATUS_EXIT);
  CHECK(code == 1);
  CHECK_OUTPUT(&out, "");
  CHECK_CONTAINS(capture_str(&err), "cat: /etc/passwd: ");

  /* No arguments, no environment (not even the host's). */
  capture_clear(&out);
  capture_clear(&err);
  CHECK_STATUS(run_command("env_args", w, &code), SBX_STATUS_OK);
  printf("env_args with nothing configured: \"%s\"\n", capture_str(&out));
  CHECK_NOT_CONTAINS(capture_str(&out), "env ");
  CHECK_NOT_CONTAINS(capture_str(&out), "arg[1]");
  CHECK_NOT_CONTAINS(capture_str(&out), "PATH");
  CHECK_NOT_CONTAINS(capture_str(&out), "HOME");
  /* At most an argv[0] line. */
  CHECK(out.len == 0 || strncmp(capture_str(&out), "arg[0]=", 7) == 0);
  CHECK(strchr(capture_str(&out), '\n') == NULL ||
        strchr(capture_str(&out), '\n') == capture_str(&out) + out.len - 1);
  CHECK_OUTPUT(&err, "");

  /* No stdin: echo_stdin reads nothing. */
  capture_clear(&out);
  CHECK_STATUS(run_command("echo_stdin", w, &code), SBX_STATUS_OK);
  CHECK_OUTPUT(&out, "\n0 bytes\n");

  sbx_wasi_config_free(w);
  sbx_wasi_config_free(w2);
  CHECK(out.frees == 2 && err.frees == 2);
  capture_destroy(&out);
  capture_destroy(&err);
}

static void test_wasi_args_env(void) {
  capture out;
  capture_init(&out);
  sbx_wasi_config *w = new_wasi();
  wasi_capture(w, &out, NULL);
  wasi_arg(w, "env_args");
  wasi_arg(w, "one");
  wasi_arg(w, "two words");
  wasi_arg(w, "");
  wasi_arg(w, "caf\xc3\xa9");
  CHECK_STATUS(sbx_wasi_config_add_env(w, "GREETING", 8, "hi there", 8),
               SBX_STATUS_OK);
  CHECK_STATUS(sbx_wasi_config_add_env(w, "EMPTY", 5, NULL, 0),
               SBX_STATUS_OK);
  /* A value may contain '='. */
  CHECK_STATUS(sbx_wasi_config_add_env(w, "EQ", 2, "a=b", 3),
               SBX_STATUS_OK);

  /* Bad keys are recorded, and refused with a message by validate and by
   * the load given them; bad UTF-8 is refused at once and changes nothing. */
  check_wasi_refused("", 0, "wasi config: env key \"\" must be non-empty "
                            "and contain no '='");
  check_wasi_refused("A=B", 3, "wasi config: env key \"A=B\" must be "
                               "non-empty and contain no '='");
  CHECK_STATUS(sbx_wasi_config_add_env(w, "\xff", 1, "x", 1),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_wasi_config_add_env(w, "BAD", 3, "\xc3", 1),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_wasi_config_add_arg(w, "\xff\xfe", 2),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_wasi_config_add_arg(w, NULL, 3), SBX_STATUS_INVALID_ARGUMENT);

  int32_t code = -1;
  CHECK_STATUS(run_command("env_args", w, &code), SBX_STATUS_OK);
  printf("env_args:\n%s", capture_str(&out));
  CHECK_OUTPUT(&out,
               "arg[0]=env_args\n"
               "arg[1]=one\n"
               "arg[2]=two words\n"
               "arg[3]=\n"
               "arg[4]=caf\xc3\xa9\n"
               "env GREETING=hi there\n"
               "env EMPTY=\n"
               "env EQ=a=b\n");
  sbx_wasi_config_free(w);
  CHECK(out.frees == 1);
  capture_destroy(&out);
}

static void test_wasi_cat_preopen(void) {
  char base[4096], data[4200], path[4300];
  make_temp_dir(base, sizeof base, "cat");
  snprintf(data, sizeof data, "%s/data", base);
  make_dir(data);
  snprintf(path, sizeof path, "%s/input.txt", data);
  write_file(path, "the quick brown fox\njumps\n");
  snprintf(path, sizeof path, "%s/sub", data);
  make_dir(path);
  snprintf(path, sizeof path, "%s/sub/other.txt", data);
  write_file(path, "other file\n");

  capture out, err;
  capture_init(&out);
  capture_init(&err);
  sbx_wasi_config *w = new_wasi();
  wasi_capture(w, &out, &err);
  wasi_preopen(w, data, "/data", false);
  int32_t code = -1;
  CHECK_STATUS(run_command("cat", w, &code), SBX_STATUS_OK);
  CHECK(code == 0);
  CHECK_OUTPUT(&out, "the quick brown fox\njumps\n");
  CHECK_OUTPUT(&err, "");

  /* argv[1] names another file, in a subdirectory; "." and ".." that stay
   * inside the preopen are fine. */
  const char *const others[] = {"/data/sub/other.txt",
                                "/data/./sub/../sub/other.txt"};
  for (size_t i = 0; i < 2; i++) {
    sbx_wasi_config *w2 = new_wasi();
    capture_clear(&out);
    capture_clear(&err);
    wasi_capture(w2, &out, &err);
    wasi_preopen(w2, data, "/data", false);
    wasi_arg(w2, "cat");
    wasi_arg(w2, others[i]);
    CHECK_STATUS(run_command("cat", w2, &code), SBX_STATUS_OK);
    CHECK_OUTPUT(&out, "other file\n");
    CHECK_OUTPUT(&err, "");
    sbx_wasi_config_free(w2);
  }

  /* A missing file: exit 1 and a message on stderr. */
  sbx_wasi_config *w3 = new_wasi();
  capture_clear(&out);
  capture_clear(&err);
  wasi_capture(w3, &out, &err);
  wasi_preopen(w3, data, "/data", false);
  wasi_arg(w3, "cat");
  wasi_arg(w3, "/data/missing.txt");
  CHECK_STATUS(run_command("cat", w3, &code), SBX_STATUS_EXIT);
  CHECK(code == 1);
  CHECK_CONTAINS(capture_str(&err), "cat: /data/missing.txt: ");

  /* The same directory under another guest name: /data is then unknown. */
  sbx_wasi_config *w4 = new_wasi();
  capture_clear(&out);
  capture_clear(&err);
  wasi_capture(w4, &out, &err);
  wasi_preopen(w4, data, "/elsewhere", false);
  CHECK_STATUS(run_command("cat", w4, &code), SBX_STATUS_EXIT);
  CHECK(code == 1);
  CHECK_OUTPUT(&out, "");

  /* A preopen of a directory that does not exist fails the load. */
  sbx_wasi_config *w5 = new_wasi();
  snprintf(path, sizeof path, "%s/does-not-exist", base);
  wasi_preopen(w5, path, "/data", false);
  /* ... and so does one of a regular file: both SBX_STATUS_IO. */
  sbx_wasi_config *w6 = new_wasi();
  snprintf(path, sizeof path, "%s/input.txt", data);
  wasi_preopen(w6, path, "/data", false);
  sbx_wasi_config *unopenable[2] = {w5, w6};
  for (size_t i = 0; i < 2; i++) {
    sbx_host *host = sbx_test_host(NULL);
    sbx_module *m = NULL;
    sbx_error *e = NULL;
    sbx_status st = load_with(host, "wasi/cat.wasm", unopenable[i], 0, &m, &e);
    CHECK_STATUS_ERR(st, SBX_STATUS_IO, e);
    CHECK(m == NULL);
    printf("unopenable preopen: %s: %s\n", sbx_status_name(st),
           e ? sbx_error_message(e) : "(none)");
    sbx_error_free(e);
    sbx_module_free(m);
    sbx_close(host);
  }
  sbx_wasi_config_free(w6);

  /* Empty paths are refused by validate (and by a load given them); bad
   * UTF-8 is refused at once. */
  for (int which = 0; which < 2; which++) {
    sbx_wasi_config *empty = new_wasi();
    CHECK_STATUS(sbx_wasi_config_add_preopen_dir(
                     empty, which ? data : "", which ? strlen(data) : 0,
                     which ? "" : "/d", which ? 0 : 2, false),
                 SBX_STATUS_OK);
    sbx_error *e = NULL;
    CHECK_STATUS_ERR(sbx_wasi_config_validate(empty, &e),
                     SBX_STATUS_INVALID_ARGUMENT, e);
    CHECK_CONTAINS(e ? sbx_error_message(e) : NULL,
                   "paths must not be empty");
    sbx_error_free(e);
    sbx_wasi_config_free(empty);
  }
  CHECK_STATUS(sbx_wasi_config_validate(w5, NULL), SBX_STATUS_OK);
  CHECK_STATUS(sbx_wasi_config_validate(NULL, NULL),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_wasi_config_add_preopen_dir(w5, "\xff", 1, "/d", 2,
                                           false),
               SBX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sbx_wasi_config_add_preopen_dir(w5, NULL, 4, "/d", 2, false),
               SBX_STATUS_INVALID_ARGUMENT);

  sbx_wasi_config_free(w);
  sbx_wasi_config_free(w3);
  sbx_wasi_config_free(w4);
  sbx_wasi_config_free(w5);
  CHECK(out.frees == 5 && err.frees == 5);
  capture_destroy(&out);
  capture_destroy(&err);
  rm_rf(base);
}

static void test_wasi_escape(void) {
  /*
   * base/secret.txt            reachable only through /data/..
   * base/outside/secret.txt    target of data/link_out
   * base/outside_file.txt      target of data/link_file
   * base/data                  preopened as /data
   */
  char base[4096], data[4200], path[4300], target[4300];
  make_temp_dir(base, sizeof base, "escape");
  snprintf(data, sizeof data, "%s/data", base);
  make_dir(data);
  snprintf(path, sizeof path, "%s/input.txt", data);
  write_file(path, "inside\n");
  snprintf(path, sizeof path, "%s/secret.txt", base);
  write_file(path, "SECRET above\n");
  snprintf(target, sizeof target, "%s/outside", base);
  make_dir(target);
  snprintf(path, sizeof path, "%s/outside/secret.txt", base);
  write_file(path, "SECRET outside\n");
  snprintf(path, sizeof path, "%s/link_out", data);
  REQUIRE(symlink(target, path) == 0);
  snprintf(target, sizeof target, "%s/outside_file.txt", base);
  write_file(target, "SECRET file\n");
  snprintf(path, sizeof path, "%s/link_file", data);
  REQUIRE(symlink(target, path) == 0);

  capture out, err;
  capture_init(&out);
  capture_init(&err);
  sbx_wasi_config *w = new_wasi();
  wasi_capture(w, &out, &err);
  wasi_preopen(w, data, "/data", false);
  int32_t code = -1;
  sbx_status st = run_command("escape", w, &code);
  printf("escape (exit %d):\n%s", code, capture_str(&out));
  CHECK_STATUS(st, SBX_STATUS_OK);
  CHECK(code == 0);
  CHECK_NOT_CONTAINS(capture_str(&out), "OPENED");
  CHECK_NOT_CONTAINS(capture_str(&out), "SECRET");
  CHECK_CONTAINS(capture_str(&out), "DENIED /data/../secret.txt (");
  CHECK_CONTAINS(capture_str(&out), "DENIED ../secret.txt (");
  CHECK_CONTAINS(capture_str(&out), "DENIED /etc/passwd (");
  CHECK_CONTAINS(capture_str(&out), "DENIED /secret.txt (");
  CHECK_CONTAINS(capture_str(&out), "DENIED /data/link_out/secret.txt (");
  CHECK_CONTAINS(capture_str(&out), "DENIED /data/link_file (");
  CHECK_CONTAINS(capture_str(&out), "DENIED opendir(/data/..) (");
  CHECK_CONTAINS(capture_str(&out), "DENIED opendir(/data/link_out) (");
  CHECK_CONTAINS(capture_str(&out), "DENIED stat(/data/../secret.txt) (");
  CHECK_CONTAINS(capture_str(&out), "DENIED stat(/data/link_out/secret.txt) (");
  CHECK_CONTAINS(capture_str(&out), "DENIED stat(/data/link_file) (");
  CHECK_CONTAINS(capture_str(&out), "DENIED stat(/etc/passwd) (");
  /* 13 probes, all denied. */
  size_t lines = 0;
  for (const char *p = capture_str(&out); (p = strstr(p, "DENIED ")); p++)
    lines++;
  CHECK(lines == 13);

  /* The probe itself works: a legitimate path opens (exit code = 1). */
  sbx_wasi_config *w2 = new_wasi();
  capture_clear(&out);
  wasi_capture(w2, &out, NULL);
  wasi_preopen(w2, data, "/data", false);
  wasi_arg(w2, "escape");
  wasi_arg(w2, "/data/input.txt");
  wasi_arg(w2, "/data/link_file");
  st = run_command("escape", w2, &code);
  CHECK_STATUS(st, SBX_STATUS_EXIT);
  CHECK(code == 1);
  CHECK_CONTAINS(capture_str(&out), "OPENED /data/input.txt\n");
  CHECK_CONTAINS(capture_str(&out), "DENIED /data/link_file (");

  sbx_wasi_config_free(w);
  sbx_wasi_config_free(w2);
  capture_destroy(&out);
  capture_destroy(&err);
  rm_rf(base);
}

static void test_wasi_read_only(void) {
  char base[4096], data[4200], path[4300], buf[256];
  make_temp_dir(base, sizeof base, "ro");
  snprintf(data, sizeof data, "%s/data", base);
  make_dir(data);
  snprintf(path, sizeof path, "%s/out.txt", data);

  capture out;
  capture_init(&out);
  sbx_wasi_config *w = new_wasi();
  wasi_capture(w, &out, NULL);
  wasi_preopen(w, data, "/data", false);
  int32_t code = -1;
  CHECK_STATUS(run_command("write_ro", w, &code), SBX_STATUS_OK);
  CHECK(code == 0);
  printf("read-only: %s", capture_str(&out));
  CHECK_CONTAINS(capture_str(&out), "DENIED /data/out.txt (");
  CHECK(!path_exists(path));

  /* An existing file cannot be truncated or overwritten either. */
  write_file(path, "original\n");
  capture_clear(&out);
  CHECK_STATUS(run_command("write_ro", w, &code), SBX_STATUS_OK);
  CHECK_CONTAINS(capture_str(&out), "DENIED /data/out.txt (");
  CHECK(read_file(path, buf, sizeof buf) && strcmp(buf, "original\n") == 0);
  REQUIRE(unlink(path) == 0);

  /* writable = true: the write goes through (write_ro exits 1). */
  sbx_wasi_config *w2 = new_wasi();
  capture_clear(&out);
  wasi_capture(w2, &out, NULL);
  wasi_preopen(w2, data, "/data", true);
  CHECK_STATUS(run_command("write_ro", w2, &code), SBX_STATUS_EXIT);
  CHECK(code == 1);
  CHECK_OUTPUT(&out, "WROTE /data/out.txt\n");
  CHECK(read_file(path, buf, sizeof buf) &&
        strcmp(buf, "written by write_ro\n") == 0);

  sbx_wasi_config_free(w);
  sbx_wasi_config_free(w2);
  CHECK(out.frees == 2);
  capture_destroy(&out);
  rm_rf(base);
}

static void test_wasi_stdin(void) {
  static const char input[] = "line one\nbin\0ary\xff\n";
  size_t input_len = sizeof input - 1;
  capture out;
  capture_init(&out);
  sbx_wasi_config *w = new_wasi();
  wasi_capture(w, &out, NULL);
  CHECK_STATUS(sbx_wasi_config_set_stdin(w, u8(input), input_len), SBX_STATUS_OK);
  CHECK_STATUS(run_command("echo_stdin", w, NULL), SBX_STATUS_OK);
  char want[128];
  memcpy(want, input, input_len);
  int tail = snprintf(want + input_len, sizeof want - input_len,
                      "\n%zu bytes\n", input_len);
  size_t want_len = input_len + (size_t)tail;
  CHECK(out.len == want_len && memcmp(capture_str(&out), want, want_len) == 0);

  /* A large stdin (1 MiB) arrives whole. */
  size_t big_len = 1u << 20;
  uint8_t *big = malloc(big_len);
  REQUIRE(big != NULL);
  for (size_t i = 0; i < big_len; i++) big[i] = (uint8_t)('a' + i % 26);
  CHECK_STATUS(sbx_wasi_config_set_stdin(w, big, big_len), SBX_STATUS_OK);
  big[0] = 'X'; /* the config holds a copy */
  capture_clear(&out);
  CHECK_STATUS(run_command("echo_stdin", w, NULL), SBX_STATUS_OK);
  CHECK(out.len == big_len + strlen("\n1048576 bytes\n"));
  CHECK(out.len > 0 && out.data[0] == 'a');
  CHECK(out.len >= big_len && memcmp(out.data + 1, big + 1, big_len - 1) == 0);
  CHECK_CONTAINS(capture_str(&out) + big_len, "\n1048576 bytes\n");
  free(big);

  /* Empty stdin again. */
  CHECK_STATUS(sbx_wasi_config_set_stdin(w, NULL, 0), SBX_STATUS_OK);
  capture_clear(&out);
  CHECK_STATUS(run_command("echo_stdin", w, NULL), SBX_STATUS_OK);
  CHECK_OUTPUT(&out, "\n0 bytes\n");
  CHECK_STATUS(sbx_wasi_config_set_stdin(w, NULL, 5), SBX_STATUS_INVALID_ARGUMENT);

  sbx_wasi_config_free(w);
  CHECK(out.frees == 1);
  capture_destroy(&out);
}

/* --- WASI configuration paths --- */

static void test_wasi_output_limit(void) {
  capture out, err;
  capture_init(&out);
  capture_init(&err);
  sbx_wasi_config *w = new_wasi();
  wasi_capture(w, &out, &err);
  CHECK_STATUS(sbx_wasi_config_set_output_limit(w, 5), SBX_STATUS_OK);
  CHECK_STATUS(run_command("hello", w, NULL), SBX_STATUS_OK);
  CHECK_OUTPUT(&out, "hello");
  CHECK_OUTPUT(&err, "warni"); /* the cap applies to each stream */

  /* 0 means no cap again. */
  CHECK_STATUS(sbx_wasi_config_set_output_limit(w, 0), SBX_STATUS_OK);
  capture_clear(&out);
  capture_clear(&err);
  CHECK_STATUS(run_command("hello", w, NULL), SBX_STATUS_OK);
  CHECK_OUTPUT(&out, "hello from wasi\n");
  CHECK_OUTPUT(&err, "warning: to stderr\n");

  /* A large output capped at 1000 bytes. */
  static char big[100000];
  memset(big, 'x', sizeof big);
  CHECK_STATUS(sbx_wasi_config_set_stdin(w, u8(big), sizeof big), SBX_STATUS_OK);
  CHECK_STATUS(sbx_wasi_config_set_output_limit(w, 1000), SBX_STATUS_OK);
  capture_clear(&out);
  CHECK_STATUS(run_command("echo_stdin", w, NULL), SBX_STATUS_OK);
  CHECK(out.len == 1000);
  CHECK(out.len == 1000 && memcmp(out.data, big, 1000) == 0);

  /* The cap is per call: each greet gets a fresh budget. */
  shout_state s;
  shout_state_init(&s);
  sbx_host *host = sbx_test_host(NULL);
  CHECK_STATUS(define_shout(host, &s, NULL), SBX_STATUS_OK);
  sbx_wasi_config *w2 = new_wasi();
  capture pout;
  capture_init(&pout);
  wasi_capture(w2, &pout, NULL);
  CHECK_STATUS(sbx_wasi_config_set_output_limit(w2, 8), SBX_STATUS_OK);
  sbx_module *m = must_load_with(host, "wasi/plugin.wasm", w2, 0);
  uint64_t result = 0;
  CHECK_STATUS(greet(m, "world", &result, NULL), SBX_STATUS_OK);
  CHECK_OUTPUT(&pout, "hello, w");
  CHECK_STATUS(greet(m, "again", &result, NULL), SBX_STATUS_OK);
  CHECK_OUTPUT(&pout, "hello, whello, a");
  CHECK(result == 42);
  sbx_module_free(m);
  sbx_close(host);
  sbx_wasi_config_free(w2);
  CHECK(pout.frees == 1);

  CHECK_STATUS(sbx_wasi_config_set_output_limit(NULL, 5),
               SBX_STATUS_INVALID_ARGUMENT);
  sbx_wasi_config_free(w);
  CHECK(out.frees == 1 && err.frees == 1);
  capture_destroy(&out);
  capture_destroy(&err);
  capture_destroy(&pout);
}

static void test_wasi_not_enabled(void) {
  sbx_host *host = sbx_test_host(NULL);
  /* The plugin also imports host.shout: define it, so that WASI is what is
   * missing (otherwise the error may name host.shout first). */
  shout_state s;
  shout_state_init(&s);
  CHECK_STATUS(define_shout(host, &s, NULL), SBX_STATUS_OK);
  const char *const progs[] = {"wasi/hello.wasm", "wasi/plugin.wasm"};
  for (size_t i = 0; i < 2; i++) {
    sbx_module *m = NULL;
    sbx_error *err = NULL;
    sbx_status st = sbx_test_load(host, progs[i], &m, &err);
    CHECK_STATUS_ERR(st, SBX_STATUS_LINK_ERROR, err);
    CHECK(m == NULL);
    REQUIRE(err != NULL);
    printf("%s without WASI: %s\n", progs[i], sbx_error_message(err));
    CHECK_CONTAINS(sbx_error_message(err), "wasi_snapshot_preview1");
    sbx_error_free(err);

    /* sbx_load_module_with and options without a WASI config: the same. */
    m = NULL;
    err = NULL;
    st = load_with(host, progs[i], NULL, 0, &m, &err);
    CHECK_STATUS_ERR(st, SBX_STATUS_LINK_ERROR, err);
    if (err) CHECK_CONTAINS(sbx_error_message(err), "wasi_snapshot_preview1");
    sbx_error_free(err);
    CHECK(m == NULL);
  }
  /* NULL options are the defaults too. */
  size_t len = 0;
  uint8_t *wasm = sbx_test_read_fixture("wasi/hello.wasm", &len);
  sbx_module *m = NULL;
  sbx_error *err = NULL;
  sbx_status st = sbx_load_module_with(host, "hello", 5, wasm, len, NULL,
                                       &m, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_LINK_ERROR, err);
  sbx_error_free(err);
  /* ... and a module without imports loads with NULL options. */
  free(wasm);
  wasm = sbx_test_read_fixture("add.wasm", &len);
  m = NULL;
  err = NULL;
  st = sbx_load_module_with(host, "add", 3, wasm, len, NULL, &m, &err);
  CHECK_STATUS_ERR(st, SBX_STATUS_OK, err);
  sbx_error_free(err);
  free(wasm);
  if (m) {
    uint64_t params[2] = {2, 3}, r = 0;
    CHECK_STATUS(sbx_test_call(m, "add", params, 2, &r, 1, NULL, 0, NULL, NULL),
                 SBX_STATUS_OK);
    CHECK(r == 5);
  }
  sbx_module_free(m);
  sbx_close(host);
  CHECK(s.calls == 0 && s.frees == 1);
}

static void test_wasi_host_level(void) {
  capture host_out, load_out;
  capture_init(&host_out);
  capture_init(&load_out);

  sbx_wasi_config *w = new_wasi();
  wasi_capture(w, &host_out, NULL);
  wasi_arg(w, "from-host");
  sbx_config *config = sbx_config_new();
  REQUIRE(config != NULL);
  CHECK_STATUS(sbx_config_set_wasi(config, w), SBX_STATUS_OK);
  sbx_wasi_config_free(w); /* the config holds a copy */
  CHECK(host_out.frees == 0);
  sbx_host *host = sbx_test_host(config);
  sbx_config_free(config); /* and so does the host */
  CHECK(host_out.frees == 0);

  /* Plain sbx_load_module: the host's WASI world. */
  sbx_module *m = sbx_test_must_load(host, "wasi/hello.wasm");
  CHECK_STATUS(run_start(m, MS_TO_NS(60000), NULL), SBX_STATUS_OK);
  CHECK_OUTPUT(&host_out, "hello from wasi\n");
  sbx_module_free(m);

  capture_clear(&host_out);
  m = sbx_test_must_load(host, "wasi/env_args.wasm");
  CHECK_STATUS(run_start(m, MS_TO_NS(60000), NULL), SBX_STATUS_OK);
  CHECK_OUTPUT(&host_out, "arg[0]=from-host\n");
  sbx_module_free(m);

  /* Load options with their own WASI config take its place. */
  capture_clear(&host_out);
  sbx_wasi_config *w2 = new_wasi();
  wasi_capture(w2, &load_out, NULL);
  wasi_arg(w2, "from-load");
  m = must_load_with(host, "wasi/env_args.wasm", w2, 0);
  sbx_wasi_config_free(w2);
  CHECK_STATUS(run_start(m, MS_TO_NS(60000), NULL), SBX_STATUS_OK);
  CHECK_OUTPUT(&load_out, "arg[0]=from-load\n");
  CHECK_OUTPUT(&host_out, "");
  sbx_module_free(m);

  /* Options without one (or set back to NULL) use the host's again. */
  sbx_load_options *opts = sbx_load_options_new();
  REQUIRE(opts != NULL);
  w2 = new_wasi();
  CHECK_STATUS(sbx_load_options_set_wasi(opts, w2), SBX_STATUS_OK);
  sbx_wasi_config_free(w2);
  CHECK_STATUS(sbx_load_options_set_wasi(opts, NULL), SBX_STATUS_OK);
  size_t len = 0;
  uint8_t *wasm = sbx_test_read_fixture("wasi/hello.wasm", &len);
  m = NULL;
  sbx_error *err = NULL;
  CHECK_STATUS_ERR(
      sbx_load_module_with(host, "h", 1, wasm, len, opts, &m, &err),
      SBX_STATUS_OK, err);
  sbx_error_free(err);
  free(wasm);
  sbx_load_options_free(opts);
  if (m) {
    CHECK_STATUS(run_start(m, MS_TO_NS(60000), NULL), SBX_STATUS_OK);
    CHECK_OUTPUT(&host_out, "hello from wasi\n");
  }
  sbx_module_free(m);

  CHECK(host_out.frees == 0); /* the host still holds its copy */
  sbx_close(host);
  CHECK(host_out.frees == 1);
  CHECK(load_out.frees == 1);

  /* sbx_config_set_wasi(NULL) turns WASI off again. */
  capture off;
  capture_init(&off);
  config = sbx_config_new();
  REQUIRE(config != NULL);
  w = new_wasi();
  wasi_capture(w, &off, NULL);
  CHECK_STATUS(sbx_config_set_wasi(config, w), SBX_STATUS_OK);
  sbx_wasi_config_free(w);
  CHECK_STATUS(sbx_config_set_wasi(config, NULL), SBX_STATUS_OK);
  CHECK_STATUS(sbx_config_set_wasi(NULL, NULL), SBX_STATUS_INVALID_ARGUMENT);
  host = sbx_test_host(config);
  sbx_config_free(config);
  CHECK(off.frees == 1); /* every copy is gone */
  m = NULL;
  err = NULL;
  CHECK_STATUS_ERR(sbx_test_load(host, "wasi/hello.wasm", &m, &err),
                   SBX_STATUS_LINK_ERROR, err);
  if (err) CHECK_CONTAINS(sbx_error_message(err), "wasi_snapshot_preview1");
  sbx_error_free(err);
  sbx_module_free(m);
  sbx_close(host);

  capture_destroy(&host_out);
  capture_destroy(&load_out);
  capture_destroy(&off);
}

static void test_wasi_timeout(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_wasi_config *w = new_wasi();
  sbx_module *m = must_load_with(host, "wasi/spin.wasm", w, 0);
  sbx_wasi_config_free(w);
  for (int i = 0; i < 2; i++) {
    sbx_error *err = NULL;
    double t0 = sbx_test_now_ms();
    sbx_status st = run_start(m, MS_TO_NS(50), &err);
    double took = sbx_test_now_ms() - t0;
    CHECK_STATUS_ERR(st, SBX_STATUS_TIMEOUT, err);
    printf("spin timed out after %.1f ms\n", took);
    CHECK(took >= 40.0);
    CHECK(took < SBX_SLOW_BOUND_MS);
    sbx_error_free(err);
  }
  sbx_module_free(m);

  /* A host exec timeout applies too. */
  sbx_config *config = sbx_config_new();
  REQUIRE(config != NULL);
  CHECK_STATUS(sbx_config_set_exec_timeout_ns(config, MS_TO_NS(50)),
               SBX_STATUS_OK);
  w = new_wasi();
  CHECK_STATUS(sbx_config_set_wasi(config, w), SBX_STATUS_OK);
  sbx_wasi_config_free(w);
  sbx_host *host2 = sbx_test_host(config);
  sbx_config_free(config);
  m = sbx_test_must_load(host2, "wasi/spin.wasm");
  sbx_error *err = NULL;
  double t0 = sbx_test_now_ms();
  sbx_status st = run_start(m, 0, &err);
  double took = sbx_test_now_ms() - t0;
  CHECK_STATUS_ERR(st, SBX_STATUS_TIMEOUT, err);
  CHECK(took >= 40.0 && took < SBX_SLOW_BOUND_MS);
  sbx_error_free(err);
  sbx_module_free(m);
  sbx_close(host2);
  sbx_close(host);
}

/* A call of sleep.wasm's `sleep(8 s)` with no timeout, on its own thread. */
struct sleep_call {
  const sbx_module *module;
  atomic_int started, done;
  sbx_status status;
};

static void *run_sleep(void *arg) {
  struct sleep_call *c = arg;
  uint64_t ns = MS_TO_NS(8000), errno_out = 0;
  atomic_store(&c->started, 1);
  c->status = sbx_test_call(c->module, "sleep", &ns, 1, &errno_out, 1, NULL,
                            SBX_TIMEOUT_NONE, NULL, NULL);
  atomic_store(&c->done, 1);
  return NULL;
}

/* Starts a sleeper on `m` and gives it 300 ms to be asleep. */
static void start_sleeper(struct sleep_call *c, pthread_t *t,
                          const sbx_module *m) {
  c->module = m;
  atomic_store(&c->started, 0);
  atomic_store(&c->done, 0);
  REQUIRE(pthread_create(t, NULL, run_sleep, c) == 0);
  while (!atomic_load(&c->started)) sbx_test_sleep_ms(1);
  sbx_test_sleep_ms(300);
}

/* Waits for the sleeper; returns how long after `since` (ms) it finished. */
static double join_sleeper(struct sleep_call *c, pthread_t t, double since) {
  while (!atomic_load(&c->done) && sbx_test_now_ms() - since < 60000)
    sbx_test_sleep_ms(1);
  double took = sbx_test_now_ms() - since;
  REQUIRE(atomic_load(&c->done));
  REQUIRE(pthread_join(t, NULL) == 0);
  return took;
}

/* A guest sleeping in WASI (poll_oneoff on a clock) stops like a busy one. */
static void test_wasi_sleep(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_wasi_config *w = new_wasi();
  sbx_module *m = must_load_with(host, "wasi/sleep.wasm", w, 0);

  /* The call's timeout. */
  uint64_t ns = MS_TO_NS(8000), errno_out = 99;
  sbx_error *err = NULL;
  double t0 = sbx_test_now_ms();
  sbx_status st = sbx_test_call(m, "sleep", &ns, 1, &errno_out, 1, NULL,
                                MS_TO_NS(300), NULL, &err);
  double took = sbx_test_now_ms() - t0;
  CHECK_STATUS_ERR(st, SBX_STATUS_TIMEOUT, err);
  sbx_error_free(err);
  printf("8 s sleep under a 300 ms timeout returned after %.1f ms\n", took);
  CHECK(took >= 300.0 && took < 300.0 + SBX_SLOW_BOUND_MS);

  /* A shorter sleep sleeps its full length. */
  ns = MS_TO_NS(100);
  t0 = sbx_test_now_ms();
  CHECK_STATUS(sbx_test_call(m, "sleep", &ns, 1, &errno_out, 1, NULL,
                             MS_TO_NS(2000), NULL, NULL),
               SBX_STATUS_OK);
  took = sbx_test_now_ms() - t0;
  CHECK(errno_out == 0);
  CHECK(took >= 100.0 && took < 100.0 + SBX_SLOW_BOUND_MS);

  /* sbx_module_interrupt. */
  struct sleep_call c;
  pthread_t t;
  start_sleeper(&c, &t, m);
  t0 = sbx_test_now_ms();
  CHECK_STATUS(sbx_module_interrupt(m), SBX_STATUS_OK);
  took = join_sleeper(&c, t, t0);
  CHECK_STATUS(c.status, SBX_STATUS_INTERRUPTED);
  printf("interrupted sleep returned after %.1f ms\n", took);
  CHECK(took < SBX_SLOW_BOUND_MS);

  /* sbx_module_close returns promptly, as does the call. */
  start_sleeper(&c, &t, m);
  t0 = sbx_test_now_ms();
  CHECK_STATUS(sbx_module_close(m), SBX_STATUS_OK);
  CHECK(sbx_test_now_ms() - t0 < SBX_SLOW_BOUND_MS);
  took = join_sleeper(&c, t, t0);
  CHECK_STATUS(c.status, SBX_STATUS_HANDLE_CLOSED);
  CHECK(took < SBX_SLOW_BOUND_MS);
  sbx_module_free(m);

  /* So does sbx_close. */
  m = must_load_with(host, "wasi/sleep.wasm", w, 0);
  sbx_wasi_config_free(w);
  start_sleeper(&c, &t, m);
  t0 = sbx_test_now_ms();
  sbx_close(host);
  CHECK(sbx_test_now_ms() - t0 < SBX_SLOW_BOUND_MS);
  took = join_sleeper(&c, t, t0);
  CHECK_STATUS(c.status, SBX_STATUS_HANDLE_CLOSED);
  CHECK(took < SBX_SLOW_BOUND_MS);
  sbx_module_free(m);
}

static void test_output_callback_user_data_freed(void) {
  capture out, err, dropped;
  capture_init(&out);
  capture_init(&err);
  capture_init(&dropped);

  /* A NULL callback frees its user data right away. */
  sbx_wasi_config *w = new_wasi();
  CHECK_STATUS(sbx_wasi_config_set_stdout(w, NULL, &dropped, capture_free_cb),
               SBX_STATUS_OK);
  CHECK(dropped.frees == 1);
  CHECK_STATUS(sbx_wasi_config_set_stderr(w, NULL, &dropped, capture_free_cb),
               SBX_STATUS_OK);
  CHECK(dropped.frees == 2);
  /* A NULL free_user_data is fine. */
  CHECK_STATUS(sbx_wasi_config_set_stderr(w, capture_cb, &dropped, NULL),
               SBX_STATUS_OK);
  wasi_capture(w, &out, &err); /* replaces both */

  /* Copies: the host config, the host, the load options, the module. */
  sbx_config *config = sbx_config_new();
  REQUIRE(config != NULL);
  CHECK_STATUS(sbx_config_set_wasi(config, w), SBX_STATUS_OK);
  sbx_host *host = sbx_test_host(config);
  sbx_load_options *opts = sbx_load_options_new();
  REQUIRE(opts != NULL);
  CHECK_STATUS(sbx_load_options_set_wasi(opts, w), SBX_STATUS_OK);
  sbx_wasi_config_free(w);
  CHECK(out.frees == 0 && err.frees == 0);
  size_t len = 0;
  uint8_t *wasm = sbx_test_read_fixture("wasi/hello.wasm", &len);
  sbx_module *m = NULL;
  sbx_error *e = NULL;
  CHECK_STATUS_ERR(
      sbx_load_module_with(host, "hello", 5, wasm, len, opts, &m, &e),
      SBX_STATUS_OK, e);
  sbx_error_free(e);
  free(wasm);
  sbx_load_options_free(opts);
  sbx_config_free(config);
  CHECK(out.frees == 0 && err.frees == 0);
  REQUIRE(m != NULL);
  CHECK_STATUS(run_start(m, MS_TO_NS(60000), NULL), SBX_STATUS_OK);
  CHECK_OUTPUT(&out, "hello from wasi\n");
  CHECK_OUTPUT(&err, "warning: to stderr\n");
  CHECK_OUTPUT(&dropped, "");
  CHECK(out.frees == 0 && err.frees == 0);

  /* Closing the host first: the module handle still exists (closed). */
  sbx_close(host);
  CHECK(out.frees <= 1 && err.frees <= 1);
  sbx_module_free(m);
  CHECK(out.frees == 1);
  CHECK(err.frees == 1);
  CHECK(dropped.frees == 2);

  /* The same with the module freed first, then the host. */
  capture out2;
  capture_init(&out2);
  w = new_wasi();
  wasi_capture(w, &out2, NULL);
  host = sbx_test_host(NULL);
  m = must_load_with(host, "wasi/hello.wasm", w, 0);
  sbx_wasi_config_free(w);
  CHECK(out2.frees == 0);
  CHECK_STATUS(run_start(m, MS_TO_NS(60000), NULL), SBX_STATUS_OK);
  CHECK_OUTPUT(&out2, "hello from wasi\n");
  sbx_module_free(m);
  sbx_close(host);
  CHECK(out2.frees == 1);

  /* A config that is never used frees its user data exactly once too. */
  capture unused;
  capture_init(&unused);
  w = new_wasi();
  wasi_capture(w, &unused, &unused);
  sbx_wasi_config_free(w);
  CHECK(unused.frees == 2);

  capture_destroy(&out);
  capture_destroy(&err);
  capture_destroy(&dropped);
  capture_destroy(&out2);
  capture_destroy(&unused);
}

/* ------------------------------------------------------------------ */

/* (module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
 *         (func (export "exit") (param i32) local.get 0 call 0)) */
static const uint8_t EXIT_MODULE[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, /* magic, version */
    0x01, 0x05, 0x01, 0x60, 0x01, 0x7f, 0x00,       /* type: (i32) -> () */
    0x02, 0x24, 0x01, 0x16, 'w', 'a', 's', 'i', '_', 's', 'n', 'a', 'p', 's',
    'h', 'o', 't', '_', 'p', 'r', 'e', 'v', 'i', 'e', 'w', '1', 0x09, 'p',
    'r', 'o', 'c', '_', 'e', 'x', 'i', 't', 0x00, 0x00, /* import func 0 */
    0x03, 0x02, 0x01, 0x00,                             /* func 1: type 0 */
    0x07, 0x08, 0x01, 0x04, 'e', 'x', 'i', 't', 0x00, 0x01, /* export */
    0x0a, 0x08, 0x01, 0x06, 0x00, 0x20, 0x00, 0x10, 0x00, 0x0b,
};

/* Every proc_exit code is SBX_STATUS_EXIT with that code (wasmtime-wasi on
 * its own makes 126 and above a trap); 0 is success. */
static void test_wasi_exit_codes(void) {
  sbx_host *host = sbx_test_host(NULL);
  sbx_wasi_config *w = new_wasi();
  sbx_load_options *opts = sbx_load_options_new();
  REQUIRE(opts != NULL);
  CHECK_STATUS(sbx_load_options_set_wasi(opts, w), SBX_STATUS_OK);
  sbx_module *m = NULL;
  sbx_error *err = NULL;
  sbx_status st = sbx_load_module_with(host, "exit", 4, EXIT_MODULE,
                                       sizeof EXIT_MODULE, opts, &m, &err);
  REQUIRE(CHECK_STATUS_ERR(st, SBX_STATUS_OK, err));
  static const uint32_t codes[] = {0, 1, 125, 126, 255, 256, UINT32_MAX};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    uint64_t code = codes[i];
    size_t n = 12345;
    err = NULL;
    st = sbx_test_call(m, "exit", &code, 1, NULL, 0, &n, MS_TO_NS(60000), NULL,
                       &err);
    if (code == 0) {
      CHECK_STATUS_ERR(st, SBX_STATUS_OK, err);
      CHECK(n == 0);
    } else {
      if (!CHECK_STATUS_ERR(st, SBX_STATUS_EXIT, err))
        fprintf(stderr, "  (exit code %u)\n", codes[i]);
      CHECK(exit_code(err) == (int32_t)codes[i]);
      CHECK(sbx_error_trap_code(err) == SBX_TRAP_CODE_NONE);
    }
    sbx_error_free(err);
  }
  /* Still open after all those exits. */
  uint64_t fuel = 1;
  CHECK_STATUS(sbx_module_last_call_fuel(m, &fuel), SBX_STATUS_OK);
  sbx_module_free(m);
  sbx_load_options_free(opts);
  sbx_wasi_config_free(w);
  sbx_close(host);
}
/* ------------------------------------------------------------------ */

const sbx_test_case sbx_tests[] = {
    {"wasi_hello", test_wasi_hello, 0},
    {"wasi_exit_code", test_wasi_exit_code, 0},
    {"wasi_exit_codes", test_wasi_exit_codes, 0},
    {"wasi_deny_by_default", test_wasi_deny_by_default, 0},
    {"wasi_args_env", test_wasi_args_env, 0},
    {"wasi_cat_preopen", test_wasi_cat_preopen, 0},
    {"wasi_escape", test_wasi_escape, 0},
    {"wasi_read_only", test_wasi_read_only, 0},
    {"wasi_stdin", test_wasi_stdin, 0},
    {"wasi_output_limit", test_wasi_output_limit, 0},
    {"wasi_not_enabled", test_wasi_not_enabled, 0},
    {"wasi_host_level", test_wasi_host_level, 0},
    {"wasi_timeout", test_wasi_timeout, SBX_TEST_SERIAL},
    {"wasi_sleep", test_wasi_sleep, SBX_TEST_SERIAL},
    {"output_callback_user_data_freed", test_output_callback_user_data_freed, 0},
};

const size_t sbx_tests_count = sizeof sbx_tests / sizeof sbx_tests[0];
