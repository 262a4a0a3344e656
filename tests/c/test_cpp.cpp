// A C++17 embedder of sbx: includes the C header as is, links the library,
// and loads and calls a module through small RAII wrappers. Compiling and
// linking this proves the header's extern "C" block and its enum/struct
// declarations work for C++.
#include <sbx.h>

#include <atomic>
#include <chrono>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
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

struct ErrorDeleter {
  void operator()(sbx_error *e) const noexcept { sbx_error_free(e); }
};
using ErrorPtr = std::unique_ptr<sbx_error, ErrorDeleter>;

class Error : public std::runtime_error {
 public:
  Error(sbx_status status, const std::string &what)
      : std::runtime_error(what), status_(status) {}
  sbx_status status() const noexcept { return status_; }

 private:
  sbx_status status_;
};

// Throws an Error for a failed status, taking ownership of `raw`.
void check(sbx_status status, sbx_error *raw) {
  ErrorPtr err(raw);
  if (status == SBX_STATUS_OK) return;
  std::string what = sbx_status_name(status);
  if (err && sbx_error_message(err.get())) {
    what += ": ";
    what += sbx_error_message(err.get());
  }
  throw Error(status, what);
}

class Config {
 public:
  Config() : c_(sbx_config_new()) {
    if (!c_) throw std::bad_alloc();
  }
  ~Config() { sbx_config_free(c_); }
  Config(const Config &) = delete;
  Config &operator=(const Config &) = delete;
  Config &fuel(std::uint64_t f) {
    check(sbx_config_set_fuel(c_, f), nullptr);
    return *this;
  }
  const sbx_config *get() const noexcept { return c_; }

 private:
  sbx_config *c_;
};

class Module;

class Host {
 public:
  explicit Host(const Config *config = nullptr) {
    sbx_error *err = nullptr;
    sbx_status st = sbx_host_new(config ? config->get() : nullptr, &h_, &err);
    check(st, err);
  }
  ~Host() { sbx_close(h_); }
  Host(Host &&o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Host(const Host &) = delete;
  Host &operator=(const Host &) = delete;
  Host &operator=(Host &&) = delete;

  Module load(std::string_view name, const std::vector<std::uint8_t> &wasm);

 private:
  sbx_host *h_ = nullptr;
};

class Module {
 public:
  explicit Module(sbx_module *m) noexcept : m_(m) {}
  ~Module() { sbx_module_free(m_); }
  Module(Module &&o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;
  Module &operator=(Module &&) = delete;

  std::vector<std::uint64_t> call(std::string_view func,
                                  const std::vector<std::uint64_t> &params,
                                  std::size_t max_results = 4,
                                  std::uint64_t timeout_ns = 0) const {
    std::vector<std::uint64_t> results(max_results);
    std::size_t n = 0;
    sbx_error *err = nullptr;
    // Keep the call and check() apart: argument evaluation order is
    // unspecified, and check() must see `err` after the call wrote it.
    sbx_status st = sbx_call_with_timeout(
        m_, reinterpret_cast<const std::uint8_t *>(func.data()), func.size(),
        params.data(), params.size(), results.data(), results.size(), &n,
        timeout_ns, nullptr, &err);
    check(st, err);
    results.resize(n);
    return results;
  }

  std::string name() const {
    const char *p = nullptr;
    std::size_t len = 0;
    check(sbx_module_name(m_, &p, &len), nullptr);
    return std::string(p, len);
  }

  std::vector<sbx_function_info> functions() const {
    std::size_t count = 0;
    check(sbx_module_function_count(m_, &count), nullptr);
    std::vector<sbx_function_info> out(count);
    for (std::size_t i = 0; i < count; i++)
      check(sbx_module_function_at(m_, i, &out[i]), nullptr);
    return out;
  }

  void interrupt() const { check(sbx_module_interrupt(m_), nullptr); }

 private:
  sbx_module *m_;
};

Module Host::load(std::string_view name,
                  const std::vector<std::uint8_t> &wasm) {
  sbx_module *m = nullptr;
  sbx_error *err = nullptr;
  sbx_status st = sbx_load_module(
      h_, reinterpret_cast<const std::uint8_t *>(name.data()), name.size(),
      wasm.data(), wasm.size(), 0, nullptr, &m, &err);
  check(st, err);
  return Module(m);
}

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

}  // namespace

int main() {
  try {
    std::printf("sbx %s\n", sbx_version());
    Host host;
    Module add = host.load("add", fixture("add.wasm"));
    EXPECT(add.name() == "add");
    auto r = add.call("add", {2, 3});
    EXPECT(r.size() == 1 && r[0] == 5);

    auto fns = add.functions();
    EXPECT(fns.size() == 1);
    EXPECT(fns.size() == 1 && std::string_view(fns[0].name) == "add" &&
           fns[0].params_len == 2 && fns[0].results_len == 1 &&
           fns[0].results[0] == SBX_VALUE_TYPE_I32);

    // Errors surface as exceptions, and the RAII wrappers free everything.
    try {
      add.call("missing", {});
      EXPECT(false);
    } catch (const Error &e) {
      EXPECT(e.status() == SBX_STATUS_EXPORT_NOT_FOUND);
    }
    try {
      host.load("bad", std::vector<std::uint8_t>{1, 2, 3});
      EXPECT(false);
    } catch (const Error &e) {
      EXPECT(e.status() == SBX_STATUS_COMPILE_ERROR);
    }

    Module trap = host.load("trap", fixture("trap_unreachable.wasm"));
    try {
      trap.call("run", {});
      EXPECT(false);
    } catch (const Error &e) {
      EXPECT(e.status() == SBX_STATUS_TRAP);
    }
    // The trap code through the raw API, with the enum typed for C++.
    {
      sbx_error *raw = nullptr;
      sbx_status st = sbx_call_with_timeout(
          nullptr, nullptr, 0, nullptr, 0, nullptr, 0, nullptr, 0, nullptr,
          &raw);
      ErrorPtr err(raw);
      EXPECT(st == SBX_STATUS_INVALID_ARGUMENT);
      EXPECT(err != nullptr);
      sbx_trap_code code = sbx_error_trap_code(err.get());
      EXPECT(code == SBX_TRAP_CODE_NONE);
    }

    // A call timed out, then one interrupted from a std::thread.
    Module loop = host.load("loop", fixture("infinite_loop.wasm"));
    try {
      loop.call("loop", {}, 0, 50'000'000);
      EXPECT(false);
    } catch (const Error &e) {
      EXPECT(e.status() == SBX_STATUS_TIMEOUT);
    }
    std::atomic<bool> done{false};
    std::thread interrupter([&] {
      // An interrupt only stops a running call: repeat until it returned.
      while (!done.load()) {
        loop.interrupt();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    try {
      loop.call("loop", {}, 0, SBX_TIMEOUT_NONE);
      EXPECT(false);
    } catch (const Error &e) {
      EXPECT(e.status() == SBX_STATUS_INTERRUPTED);
    }
    done.store(true);
    interrupter.join();

    // Fuel through a config.
    Config config;
    config.fuel(1'000'000);
    Host metered(&config);
    Module fib = metered.load("fib", fixture("fib.wasm"));
    EXPECT(fib.call("fib", {20}).at(0) == 6765);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "FAIL: exception: %s\n", e.what());
    return 1;
  }
  if (failures) return 1;
  std::printf("ok\n");
  return 0;
}
