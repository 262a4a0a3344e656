// sbx_test_cpp: a C++17 embedder of sbx through include/sbx.hpp, the RAII
// wrappers over the C header. Compiling and linking this proves the header's
// extern "C" block and its enum/struct declarations work for C++; running it
// under ASan (make test-asan) proves each wrapper frees its handle exactly
// once (a double free is an ASan report, a missed free a LeakSanitizer one).
//
//   sbx_test_cpp <name>   runs one test; sbx_test_cpp --list prints them
//   (as the C test binaries do; ctest registers what --list prints).
#include <sbx.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

static_assert(SBX_STATUS_OK == 0, "SBX_STATUS_OK is 0");
static_assert(std::is_same<std::underlying_type<sbx_trap_code>::type,
                           std::uint8_t>::value,
              "trap codes are uint8_t in C++");
static_assert(std::is_same<std::underlying_type<sbx_value_type>::type,
                           std::uint8_t>::value,
              "value types are uint8_t in C++");

// Every owner is move-only, and moves cannot throw.
template <class T>
constexpr bool move_only =
    !std::is_copy_constructible<T>::value && !std::is_copy_assignable<T>::value &&
    std::is_nothrow_move_constructible<T>::value &&
    std::is_nothrow_move_assignable<T>::value;
static_assert(move_only<sbx::config>, "config is move-only");
static_assert(move_only<sbx::wasi_config>, "wasi_config is move-only");
static_assert(move_only<sbx::load_options>, "load_options is move-only");
static_assert(move_only<sbx::host>, "host is move-only");
static_assert(move_only<sbx::cancel>, "cancel is move-only");
static_assert(move_only<sbx::module>, "module is move-only");
static_assert(move_only<sbx::error_ptr>, "error_ptr is move-only");
static_assert(std::is_base_of<std::runtime_error, sbx::error>::value,
              "sbx::error is a std::runtime_error");

std::vector<std::uint8_t> fixture(const char *name) {
  std::string path = std::string(SBX_TESTDATA_DIR) + "/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

int failures = 0;

#define EXPECT(cond)                                                  \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__,   \
                   #cond);                                            \
      failures++;                                                     \
    }                                                                 \
  } while (0)

// Runs `f`, which must throw sbx::error with `want`; returns the error.
template <class F>
sbx::error expect_error(F &&f, sbx_status want, int line) {
  try {
    f();
  } catch (const sbx::error &e) {
    if (e.status() != want) {
      std::fprintf(stderr, "%s:%d: FAIL: got %s, want %s\n", __FILE__, line,
                   sbx::status_name(e.status()), sbx::status_name(want));
      failures++;
    }
    return e;
  }
  std::fprintf(stderr, "%s:%d: FAIL: no sbx::error thrown (want %s)\n",
               __FILE__, line, sbx::status_name(want));
  failures++;
  return sbx::error(SBX_STATUS_OK, "");
}
#define EXPECT_ERROR(expr, want) expect_error([&] { (void)(expr); }, want, __LINE__)

// A free_user_data callback that counts.
void count_free(void *user_data) { ++*static_cast<int *>(user_data); }

int32_t never_called(void *, sbx_caller *, uint64_t *, size_t) { return 1; }

void test_load_and_call() {
  std::printf("sbx %s\n", sbx::version());
  sbx::host host;
  sbx::module add = host.load("add", fixture("add.wasm"));
  EXPECT(add.name() == "add");
  auto r = add.call("add", {2, 3}, 4);
  EXPECT(r.size() == 1 && r[0] == 5);
  std::uint64_t params[2] = {40, 2}, result = 0;
  EXPECT(add.call("add", params, 2, &result, 1) == 1 && result == 42);

  auto fns = add.functions();
  EXPECT(fns.size() == 1);
  EXPECT(fns.size() == 1 && std::string_view(fns[0].name) == "add" &&
         fns[0].params_len == 2 && fns[0].results_len == 1 &&
         fns[0].results[0] == SBX_VALUE_TYPE_I32);
}

void test_compile_reset_and_stats() {
  sbx::host host(sbx::config().host_memory_limit(1 << 20));
  sbx::compiled code = host.compile(fixture("reset_state.wasm"));
  EXPECT(code.functions().size() == 8);
  sbx::module m = code.instantiate(
      "m", &sbx::load_options().reset_policy(SBX_RESET_POLICY_AFTER_FAILURE));
  m.call("mutate", {}, 0);
  EXPECT(m.call("global", {}, 1)[0] == 99);
  EXPECT_ERROR(m.call("mutate_then_trap", {}, 0), SBX_STATUS_TRAP);
  EXPECT(m.call("global", {}, 1)[0] == 7); // reset before this call
  m.call("mutate", {}, 0);
  m.reset();
  EXPECT(m.call("byte", {}, 1)[0] == 42);
  sbx_module_counters ms = m.stats();
  EXPECT(ms.calls == 6 && ms.traps == 1 && ms.resets == 2);
  sbx_host_counters hs = host.stats();
  EXPECT(hs.live_modules == 1 && hs.compiled_modules == 1 &&
         hs.memory_bytes == 65536 && hs.memory_limit_bytes == (1 << 20));
  code = sbx::compiled(nullptr); // freed; the module keeps working
  EXPECT(host.stats().compiled_modules == 0);
  EXPECT(m.call("table", {}, 1)[0] == 1);
  m.close();
  EXPECT_ERROR(m.reset(), SBX_STATUS_HANDLE_CLOSED);
}

void test_errors() {
  sbx::host host;
  sbx::module add = host.load("add", fixture("add.wasm"));
  // Errors surface as exceptions carrying the status and the message.
  sbx::error e = EXPECT_ERROR(add.call("missing", {}, 0),
                              SBX_STATUS_EXPORT_NOT_FOUND);
  EXPECT(!e.message().empty());
  EXPECT(std::string(e.what()) ==
         std::string("SBX_STATUS_EXPORT_NOT_FOUND: ") + e.message());
  EXPECT(e.trap_code() == SBX_TRAP_CODE_NONE);
  EXPECT_ERROR(host.load("bad", std::vector<std::uint8_t>{1, 2, 3}),
               SBX_STATUS_COMPILE_ERROR);
  EXPECT_ERROR(host.load(" ", fixture("add.wasm")),
               SBX_STATUS_INVALID_ARGUMENT);

  // A trap, with its code.
  sbx::module trap = host.load("trap", fixture("trap_unreachable.wasm"));
  e = EXPECT_ERROR(trap.call("run", {}, 0), SBX_STATUS_TRAP);
  EXPECT(e.trap_code() == SBX_TRAP_CODE_UNREACHABLE);

  // A setter is status-only: what() is the status name alone.
  e = EXPECT_ERROR(sbx::check(sbx_config_set_memory_limit(nullptr, 1)),
                   SBX_STATUS_INVALID_ARGUMENT);
  EXPECT(e.message().empty());
  EXPECT(std::string(e.what()) == "SBX_STATUS_INVALID_ARGUMENT");
  // Setters record; validate() and the host say what is wrong.
  sbx::config config;
  config.memory_limit(0);
  e = EXPECT_ERROR(config.validate(), SBX_STATUS_INVALID_ARGUMENT);
  EXPECT(e.message() == "memory limit 0 is outside 64 KiB..=4 GiB");
  e = EXPECT_ERROR(sbx::host{config}, SBX_STATUS_INVALID_ARGUMENT);
  EXPECT(e.message() == "memory limit 0 is outside 64 KiB..=4 GiB");
  sbx::wasi_config wasi;
  wasi.env("", "x");
  e = EXPECT_ERROR(wasi.validate(), SBX_STATUS_INVALID_ARGUMENT);
  EXPECT(e.message() ==
         "wasi config: env key \"\" must be non-empty and contain no '='");

  // The trap code through the raw API, with the enum typed for C++.
  sbx_error *raw = nullptr;
  sbx_status st = sbx_call_with_timeout(nullptr, nullptr, 0, nullptr, 0,
                                        nullptr, 0, nullptr, 0, nullptr, &raw);
  sbx::error_ptr err(raw);
  EXPECT(st == SBX_STATUS_INVALID_ARGUMENT);
  EXPECT(err != nullptr);
  sbx_trap_code code = sbx_error_trap_code(err.get());
  EXPECT(code == SBX_TRAP_CODE_NONE);
  EXPECT(std::string(sbx::trap_code_name(SBX_TRAP_CODE_UNREACHABLE)) ==
         sbx_trap_code_name(SBX_TRAP_CODE_UNREACHABLE));
  // check() frees the error it is given, also on success.
  sbx::check(SBX_STATUS_OK, nullptr);
}

void test_timeout_and_interrupt() {
  sbx::host host;
  sbx::module loop = host.load("loop", fixture("infinite_loop.wasm"));
  EXPECT_ERROR(loop.call("loop", {}, 0, 50'000'000), SBX_STATUS_TIMEOUT);

  std::atomic<bool> done{false};
  std::thread interrupter([&] {
    // An interrupt only stops a running call: repeat until it returned.
    while (!done.load()) {
      loop.interrupt();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  EXPECT_ERROR(loop.call("loop", {}, 0, SBX_TIMEOUT_NONE),
               SBX_STATUS_INTERRUPTED);
  done.store(true);
  interrupter.join();

  // A cancel token triggered before the call stops it.
  sbx::cancel token(host);
  token.trigger();
  EXPECT_ERROR(loop.call("loop", {}, 0, SBX_TIMEOUT_NONE, &token),
               SBX_STATUS_INTERRUPTED);
  token.reset();
  EXPECT_ERROR(loop.call("loop", {}, 0, 50'000'000, &token),
               SBX_STATUS_TIMEOUT);

  // A closed module refuses calls; its destructor still frees it.
  loop.close();
  EXPECT_ERROR(loop.call("loop", {}, 0), SBX_STATUS_HANDLE_CLOSED);
}

void test_config_and_options() {
  sbx::config config;
  config.fuel(1'000'000).memory_limit(1 << 20).max_modules(4);
  sbx::host metered(config);
  sbx::module fib = metered.load("fib", fixture("fib.wasm"));
  EXPECT(fib.call("fib", {20}, 1).at(0) == 6765);
  EXPECT(fib.last_call_fuel() > 0);

  // A WASI program through load options, its stdout captured.
  std::string out;
  int frees = 0;
  struct sink {
    std::string *out;
    int *frees;
  } s{&out, &frees};
  {
    sbx::wasi_config wasi;
    wasi.stdout_callback(
        [](void *user_data, const uint8_t *data, size_t len) {
          static_cast<sink *>(user_data)->out->append(
              reinterpret_cast<const char *>(data), len);
        },
        &s, [](void *user_data) { ++*static_cast<sink *>(user_data)->frees; });
    sbx::load_options options;
    options.wasi(wasi).timeout_ns(SBX_TIMEOUT_NONE);
    sbx::host host;
    sbx::module hello = host.load("hello", fixture("wasi/hello.wasm"), options);
    EXPECT(hello.call("_start", {}, 0, 60'000'000'000).empty());
  }
  EXPECT(out == "hello from wasi\n");
  EXPECT(frees == 1);

  // Guest memory from the embedder.
  sbx::host host;
  sbx::module all = host.load("all", fixture("all_types.wasm"));
  EXPECT(all.memory_size() >= 65536);
  const std::uint8_t in[4] = {1, 2, 3, 4};
  std::uint8_t back[4] = {0, 0, 0, 0};
  all.memory_write(16, in, 4);
  all.memory_read(16, back, 4);
  EXPECT(std::memcmp(in, back, 4) == 0);
  EXPECT_ERROR(all.memory_read(all.memory_size() - 2, back, 4),
               SBX_STATUS_OUT_OF_BOUNDS);
}

// Moves transfer ownership, a moved-from object frees nothing, and each
// handle is freed exactly once (counted through free_user_data, and checked
// by ASan in the SBX_ASAN build).
void test_move_semantics() {
  int frees_a = 0, frees_b = 0;
  {
    sbx::host a;
    a.define_func("env", "f", {SBX_VALUE_TYPE_I32}, {}, never_called,
                  &frees_a, count_free);
    sbx::host b;
    b.define_func("env", "f", {}, {}, never_called, &frees_b, count_free);
    sbx_host *raw_b = b.get();

    sbx::host c(std::move(b));
    EXPECT(b.get() == nullptr);
    EXPECT(c.get() == raw_b);
    sbx::module add = c.load("add", fixture("add.wasm"));
    EXPECT(add.call("add", {1, 2}, 1).at(0) == 3);

    // Move assignment closes what `a` held, once.
    a = std::move(c);
    EXPECT(frees_a == 1);
    EXPECT(frees_b == 0);
    EXPECT(a.get() == raw_b && c.get() == nullptr);

    // A module moved, then moved over another one.
    sbx_module *raw_add = add.get();
    sbx::module moved(std::move(add));
    EXPECT(add.get() == nullptr && moved.get() == raw_add);
    EXPECT(moved.call("add", {2, 2}, 1).at(0) == 4);
    sbx::module other = a.load("other", fixture("add.wasm"));
    other = std::move(moved);
    EXPECT(other.get() == raw_add && moved.get() == nullptr);
    EXPECT(other.name() == "add");

    // release() hands the handle over; the wrapper frees nothing after it.
    sbx_module *released = other.release();
    EXPECT(other.get() == nullptr);
    sbx_module_free(released);

    // A cancel token moved keeps working.
    sbx::cancel t1(a);
    sbx::cancel t2(std::move(t1));
    EXPECT(t1.get() == nullptr);
    t2.trigger();
    sbx::cancel t3(a);
    t3 = std::move(t2);
    t3.reset();
  }
  EXPECT(frees_a == 1);
  EXPECT(frees_b == 1);

  // Configs: moved, moved over, used after the move.
  int wasi_frees = 0;
  {
    sbx::wasi_config w1;
    w1.stdout_callback([](void *, const uint8_t *, size_t) {}, &wasi_frees,
                       count_free);
    sbx::wasi_config w2(std::move(w1));
    EXPECT(w1.get() == nullptr);
    sbx::wasi_config w3;
    w3 = std::move(w2);
    EXPECT(wasi_frees == 0);
    w3.arg("x");

    sbx::config c1;
    sbx::config c2(std::move(c1));
    EXPECT(c1.get() == nullptr);
    c1 = std::move(c2);
    c1.fuel(1000).wasi(w3);

    sbx::load_options o1;
    sbx::load_options o2(std::move(o1));
    EXPECT(o1.get() == nullptr);
    o2.user_data(7);
  }
  EXPECT(wasi_frees == 1);

  // An error_ptr moved.
  sbx_error *raw = nullptr;
  EXPECT(sbx_host_new(nullptr, nullptr, &raw) == SBX_STATUS_INVALID_ARGUMENT);
  sbx::error_ptr e1(raw);
  sbx::error_ptr e2(std::move(e1));
  EXPECT(e1 == nullptr && e2.get() == raw);
}

// A refused value can be set right again, a failed define_func frees its
// user data at once, and a module outliving its host is still freed.
void test_failures_free() {
  sbx::config bad;
  bad.memory_limit(1 << 20).max_modules(0);
  EXPECT_ERROR(bad.validate(), SBX_STATUS_INVALID_ARGUMENT);
  bad.max_modules(2);
  bad.validate();
  sbx::host host(bad);
  int frees = 0;
  EXPECT_ERROR(host.define_func("env", "f", {static_cast<sbx_value_type>(9)},
                                {}, never_called, &frees, count_free),
               SBX_STATUS_INVALID_ARGUMENT);
  EXPECT(frees == 1);
  sbx::host closed;
  sbx::module m = closed.load("add", fixture("add.wasm"));
  {
    sbx::host gone(std::move(closed));
  }
  // The host is closed (its module with it); the module handle is freed
  // by ~module.
  EXPECT_ERROR(m.call("add", {1, 1}, 1), SBX_STATUS_HANDLE_CLOSED);
  EXPECT(m.name() == "add");
}

struct test_case {
  const char *name;
  void (*run)();
  const char *flags;  // as --list prints them, see discover_tests.cmake
};

const test_case tests[] = {
    {"load_and_call", test_load_and_call, ""},
    {"compile_reset_and_stats", test_compile_reset_and_stats, ""},
    {"errors", test_errors, ""},
    {"timeout_and_interrupt", test_timeout_and_interrupt, " serial"},
    {"config_and_options", test_config_and_options, ""},
    {"move_semantics", test_move_semantics, ""},
    {"failures_free", test_failures_free, ""},
};

}  // namespace

int main(int argc, char **argv) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
    for (const test_case &t : tests) std::printf("%s%s\n", t.name, t.flags);
    return 0;
  }
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <test>|--list|all\n", argv[0]);
    return 2;
  }
  bool found = false;
  for (const test_case &t : tests) {
    if (std::strcmp(argv[1], "all") != 0 && std::strcmp(argv[1], t.name) != 0)
      continue;
    found = true;
    std::printf("=== %s\n", t.name);
    try {
      t.run();
    } catch (const std::exception &e) {
      std::fprintf(stderr, "FAIL: %s: exception: %s\n", t.name, e.what());
      return 1;
    }
  }
  if (!found) {
    std::fprintf(stderr, "no test named %s\n", argv[1]);
    return 2;
  }
  if (failures) return 1;
  std::printf("ok\n");
  return 0;
}
