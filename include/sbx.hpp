// sbx.hpp: C++17 RAII wrappers over the C API of sbx.h (header-only).
//
// Each class owns one sbx handle and frees it exactly once with the C API's
// own function: config (sbx_config_free), wasi_config (sbx_wasi_config_free),
// load_options (sbx_load_options_free), host (sbx_close), cancel
// (sbx_cancel_free), module (sbx_module_free, which closes it first if
// needed) and error_ptr (sbx_error_free). They are move-only; a moved-from
// object holds nothing and its destructor does nothing.
//
// Failures are exceptions: every function that returns a status other than
// SBX_STATUS_OK throws sbx::error, which carries the status, the error's
// message and its trap code. (C++17 has no std::expected, and constructors,
// e.g. host's, can only report failure by throwing.) sbx_config_new and its
// peers return NULL only when allocation fails: std::bad_alloc.
//
// The wrappers add no behaviour: the C API's rules on threads, lifetimes and
// values (see sbx.h) hold as they are. In particular a cancel token must
// outlive the calls and loads that use it, and a module's borrowed pointers
// (function_info) live until the module is freed. get() gives the raw
// handle for any C function not wrapped here; release() gives up ownership.
#ifndef SBX_HPP
#define SBX_HPP

#include "sbx.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sbx {

namespace detail {
template <class T, void (*Free)(T *)>
struct deleter {
  void operator()(T *p) const noexcept { Free(p); }
};

// For constructors: a NULL from sbx_*_new means allocation failed.
template <class T>
T *non_null(T *p) {
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace detail

// An owned sbx_error, freed with sbx_error_free.
using error_ptr =
    std::unique_ptr<sbx_error, detail::deleter<sbx_error, sbx_error_free>>;

// A failed sbx call: its status, and the error's message and trap code when
// the C function returned an error (what() is "SBX_STATUS_...: message").
class error : public std::runtime_error {
 public:
  error(sbx_status status, std::string message,
        sbx_trap_code trap_code = SBX_TRAP_CODE_NONE)
      : std::runtime_error(describe(status, message)),
        status_(status),
        message_(std::move(message)),
        trap_code_(trap_code) {}

  sbx_status status() const noexcept { return status_; }
  // The error's message; empty when the function has no error out-param.
  const std::string &message() const noexcept { return message_; }
  sbx_trap_code trap_code() const noexcept { return trap_code_; }

 private:
  static std::string describe(sbx_status status, const std::string &message) {
    std::string what = sbx_status_name(static_cast<std::uint32_t>(status));
    if (!message.empty()) what += ": " + message;
    return what;
  }

  sbx_status status_;
  std::string message_;
  sbx_trap_code trap_code_;
};

// Throws sbx::error unless `status` is SBX_STATUS_OK. Takes ownership of
// `raw` (the call's error out-param, may be NULL) in either case.
inline void check(sbx_status status, sbx_error *raw = nullptr) {
  error_ptr err(raw);
  if (status == SBX_STATUS_OK) return;
  const char *message = err ? sbx_error_message(err.get()) : nullptr;
  throw error(status, message ? message : "",
              err ? sbx_error_trap_code(err.get()) : SBX_TRAP_CODE_NONE);
}

inline const char *version() noexcept { return sbx_version(); }
inline const char *status_name(sbx_status status) noexcept {
  return sbx_status_name(static_cast<std::uint32_t>(status));
}
inline const char *trap_code_name(sbx_trap_code code) noexcept {
  return sbx_trap_code_name(static_cast<std::uint8_t>(code));
}

// sbx_wasi_config: the WASI world of a host (config::wasi) or of one load
// (load_options::wasi). Setters return *this.
class wasi_config {
 public:
  wasi_config() : p_(detail::non_null(sbx_wasi_config_new())) {}

  wasi_config &preopen_dir(std::string_view host_dir,
                           std::string_view guest_dir, bool writable) {
    check(sbx_wasi_config_add_preopen_dir(p_.get(), host_dir.data(),
                                          host_dir.size(), guest_dir.data(),
                                          guest_dir.size(), writable));
    return *this;
  }
  wasi_config &env(std::string_view key, std::string_view value) {
    check(sbx_wasi_config_add_env(p_.get(), key.data(), key.size(),
                                  value.data(), value.size()));
    return *this;
  }
  wasi_config &arg(std::string_view arg) {
    check(sbx_wasi_config_add_arg(p_.get(), arg.data(), arg.size()));
    return *this;
  }
  // (stdin, stdout and stderr are macros of <cstdio>, hence the names.)
  wasi_config &stdin_bytes(const std::uint8_t *data, std::size_t len) {
    check(sbx_wasi_config_set_stdin(p_.get(), data, len));
    return *this;
  }
  wasi_config &stdout_callback(sbx_output_callback callback, void *user_data,
                               sbx_free_callback free_user_data) {
    check(sbx_wasi_config_set_stdout(p_.get(), callback, user_data,
                                     free_user_data));
    return *this;
  }
  wasi_config &stderr_callback(sbx_output_callback callback, void *user_data,
                               sbx_free_callback free_user_data) {
    check(sbx_wasi_config_set_stderr(p_.get(), callback, user_data,
                                     free_user_data));
    return *this;
  }
  wasi_config &output_limit(std::uint64_t bytes) {
    check(sbx_wasi_config_set_output_limit(p_.get(), bytes));
    return *this;
  }
  // Throws what a host or load given this config would refuse it for.
  void validate() const {
    sbx_error *err = nullptr;
    sbx_status st = sbx_wasi_config_validate(p_.get(), &err);
    check(st, err);
  }

  sbx_wasi_config *get() const noexcept { return p_.get(); }
  sbx_wasi_config *release() noexcept { return p_.release(); }

 private:
  std::unique_ptr<sbx_wasi_config,
                  detail::deleter<sbx_wasi_config, sbx_wasi_config_free>>
      p_;
};

// sbx_config: the limits of a host. Setters return *this.
class config {
 public:
  config() : p_(detail::non_null(sbx_config_new())) {}

  config &exec_timeout_ns(std::uint64_t ns) {
    check(sbx_config_set_exec_timeout_ns(p_.get(), ns));
    return *this;
  }
  config &load_timeout_ns(std::uint64_t ns) {
    check(sbx_config_set_load_timeout_ns(p_.get(), ns));
    return *this;
  }
  config &memory_limit(std::uint64_t bytes) {
    check(sbx_config_set_memory_limit(p_.get(), bytes));
    return *this;
  }
  config &table_elements_limit(std::uint64_t elements) {
    check(sbx_config_set_table_elements_limit(p_.get(), elements));
    return *this;
  }
  config &max_wasm_stack(std::uint64_t bytes) {
    check(sbx_config_set_max_wasm_stack(p_.get(), bytes));
    return *this;
  }
  config &max_modules(std::uint32_t modules) {
    check(sbx_config_set_max_modules(p_.get(), modules));
    return *this;
  }
  config &max_abandoned_compiles(std::uint32_t compiles) {
    check(sbx_config_set_max_abandoned_compiles(p_.get(), compiles));
    return *this;
  }
  config &fuel(std::uint64_t fuel_per_call) {
    check(sbx_config_set_fuel(p_.get(), fuel_per_call));
    return *this;
  }
  config &host_memory_limit(std::uint64_t bytes) {
    check(sbx_config_set_host_memory_limit(p_.get(), bytes));
    return *this;
  }
  config &pooling(bool enabled) {
    check(sbx_config_set_pooling(p_.get(), enabled));
    return *this;
  }
  config &cache_dir(std::string_view dir) {
    check(sbx_config_set_cache_dir(p_.get(), dir.data(), dir.size()));
    return *this;
  }
  config &wasi(const wasi_config &w) {
    check(sbx_config_set_wasi(p_.get(), w.get()));
    return *this;
  }
  // Throws what host's constructor would refuse the config for (the
  // setters record values unchecked).
  void validate() const {
    sbx_error *err = nullptr;
    sbx_status st = sbx_config_validate(p_.get(), &err);
    check(st, err);
  }

  sbx_config *get() const noexcept { return p_.get(); }
  sbx_config *release() noexcept { return p_.release(); }

 private:
  std::unique_ptr<sbx_config, detail::deleter<sbx_config, sbx_config_free>> p_;
};

class host;

// sbx_cancel: a token that stops the calls and loads given it.
class cancel {
 public:
  explicit cancel(const host &h);

  void trigger() const { check(sbx_cancel_trigger(p_.get())); }
  void reset() { check(sbx_cancel_reset(p_.get())); }

  sbx_cancel *get() const noexcept { return p_.get(); }
  sbx_cancel *release() noexcept { return p_.release(); }

 private:
  std::unique_ptr<sbx_cancel, detail::deleter<sbx_cancel, sbx_cancel_free>> p_;
};

// sbx_load_options: per-load settings for host::load. Setters return *this.
class load_options {
 public:
  load_options() : p_(detail::non_null(sbx_load_options_new())) {}

  load_options &timeout_ns(std::uint64_t ns) {
    check(sbx_load_options_set_timeout_ns(p_.get(), ns));
    return *this;
  }
  load_options &cancel(const sbx::cancel *token) {
    check(sbx_load_options_set_cancel(p_.get(),
                                      token ? token->get() : nullptr));
    return *this;
  }
  load_options &wasi(const wasi_config &w) {
    check(sbx_load_options_set_wasi(p_.get(), w.get()));
    return *this;
  }
  load_options &user_data(std::uint64_t user_data) {
    check(sbx_load_options_set_user_data(p_.get(), user_data));
    return *this;
  }
  load_options &reset_policy(sbx_reset_policy policy) {
    check(sbx_load_options_set_reset_policy(p_.get(), policy));
    return *this;
  }

  sbx_load_options *get() const noexcept { return p_.get(); }
  sbx_load_options *release() noexcept { return p_.release(); }

 private:
  std::unique_ptr<sbx_load_options,
                  detail::deleter<sbx_load_options, sbx_load_options_free>>
      p_;
};

// sbx_module: a loaded module, closed and freed by sbx_module_free.
class module {
 public:
  // Takes ownership of `raw` (may be NULL: an empty module).
  explicit module(sbx_module *raw) noexcept : p_(raw) {}

  // Calls `func` and returns the number of results written to `results`.
  // timeout_ns: 0 for the host's exec timeout, SBX_TIMEOUT_NONE for none.
  std::size_t call(std::string_view func, const std::uint64_t *params,
                   std::size_t params_len, std::uint64_t *results,
                   std::size_t results_cap, std::uint64_t timeout_ns = 0,
                   const sbx::cancel *token = nullptr) const {
    std::size_t n = 0;
    sbx_error *err = nullptr;
    // Call, then check: check() must see `err` after the call wrote it.
    sbx_status st = sbx_call_with_timeout(
        p_.get(), func.data(), func.size(), params, params_len,
        results, results_cap, &n, timeout_ns, token ? token->get() : nullptr,
        &err);
    check(st, err);
    return n;
  }

  // The same with vectors: room for `max_results` results.
  std::vector<std::uint64_t> call(std::string_view func,
                                  const std::vector<std::uint64_t> &params,
                                  std::size_t max_results,
                                  std::uint64_t timeout_ns = 0,
                                  const sbx::cancel *token = nullptr) const {
    std::vector<std::uint64_t> results(max_results);
    results.resize(call(func, params.data(), params.size(), results.data(),
                        results.size(), timeout_ns, token));
    return results;
  }

  // Where its load found the compiled code (SBX_CACHE_SOURCE_*).
  sbx_cache_source cache_source() const {
    sbx_cache_source source = SBX_CACHE_SOURCE_COMPILED;
    check(sbx_module_cache_source(p_.get(), &source));
    return source;
  }

  void interrupt() const { check(sbx_module_interrupt(p_.get())); }
  void close() const { check(sbx_module_close(p_.get())); }

  // Back to its state right after load (sbx_module_reset); a failed reset
  // closes the module and throws.
  void reset(std::uint64_t timeout_ns = 0,
             const sbx::cancel *token = nullptr) const {
    sbx_error *err = nullptr;
    sbx_status st = sbx_module_reset(p_.get(), timeout_ns,
                                     token ? token->get() : nullptr, &err);
    check(st, err);
  }

  sbx_module_counters stats() const {
    sbx_module_counters s{};
    s.size = sizeof s;
    check(sbx_module_stats(p_.get(), &s));
    return s;
  }

  std::uint64_t last_call_fuel() const {
    std::uint64_t fuel = 0;
    check(sbx_module_last_call_fuel(p_.get(), &fuel));
    return fuel;
  }

  std::string name() const {
    const char *p = nullptr;
    std::size_t len = 0;
    check(sbx_module_name(p_.get(), &p, &len));
    return std::string(p, len);
  }

  // Borrowed from the module: valid until it is freed.
  std::vector<sbx_function_info> functions() const {
    std::size_t count = 0;
    check(sbx_module_function_count(p_.get(), &count));
    std::vector<sbx_function_info> out(count);
    for (std::size_t i = 0; i < count; i++)
      check(sbx_module_function_at(p_.get(), i, &out[i]));
    return out;
  }

  std::uint64_t memory_size() const {
    std::uint64_t size = 0;
    check(sbx_module_memory_size(p_.get(), &size));
    return size;
  }
  void memory_read(std::uint64_t offset, std::uint8_t *buf,
                   std::size_t len) const {
    check(sbx_module_memory_read(p_.get(), offset, buf, len));
  }
  void memory_write(std::uint64_t offset, const std::uint8_t *data,
                    std::size_t len) const {
    check(sbx_module_memory_write(p_.get(), offset, data, len));
  }

  sbx_module *get() const noexcept { return p_.get(); }
  sbx_module *release() noexcept { return p_.release(); }

 private:
  std::unique_ptr<sbx_module, detail::deleter<sbx_module, sbx_module_free>> p_;
};

// sbx_compiled: code compiled once, instantiated many times; freed by
// sbx_compiled_free (modules made from it keep working).
class compiled {
 public:
  // Takes ownership of `raw` (may be NULL: an empty compiled module).
  explicit compiled(sbx_compiled *raw) noexcept : p_(raw) {}

  module instantiate(std::string_view name,
                     const load_options *options = nullptr) const {
    sbx_module *m = nullptr;
    sbx_error *err = nullptr;
    sbx_status st = sbx_compiled_instantiate(
        p_.get(), name.data(), name.size(), options ? options->get() : nullptr,
        &m, &err);
    check(st, err);
    return module(m);
  }

  // Borrowed from the compiled module: valid until it is freed.
  std::vector<sbx_function_info> functions() const {
    std::size_t count = 0;
    check(sbx_compiled_function_count(p_.get(), &count));
    std::vector<sbx_function_info> out(count);
    for (std::size_t i = 0; i < count; i++)
      check(sbx_compiled_function_at(p_.get(), i, &out[i]));
    return out;
  }

  sbx_compiled *get() const noexcept { return p_.get(); }
  sbx_compiled *release() noexcept { return p_.release(); }

 private:
  std::unique_ptr<sbx_compiled,
                  detail::deleter<sbx_compiled, sbx_compiled_free>>
      p_;
};

// sbx_host: an engine and its limits; sbx_close ends it and every module
// loaded from it (their handles still need freeing: ~module does that).
class host {
 public:
  // A host with the defaults.
  host() : host(nullptr) {}
  explicit host(const config &c) : host(c.get()) {}

  module load(std::string_view name, const std::uint8_t *wasm,
              std::size_t wasm_len, std::uint64_t timeout_ns = 0,
              const sbx::cancel *token = nullptr) const {
    sbx_module *m = nullptr;
    sbx_error *err = nullptr;
    sbx_status st = sbx_load_module(p_.get(), name.data(), name.size(),
                                    wasm, wasm_len, timeout_ns,
                                    token ? token->get() : nullptr, &m, &err);
    check(st, err);
    return module(m);
  }
  module load(std::string_view name, const std::vector<std::uint8_t> &wasm,
              std::uint64_t timeout_ns = 0,
              const sbx::cancel *token = nullptr) const {
    return load(name, wasm.data(), wasm.size(), timeout_ns, token);
  }
  module load(std::string_view name, const std::vector<std::uint8_t> &wasm,
              const load_options &options) const {
    sbx_module *m = nullptr;
    sbx_error *err = nullptr;
    sbx_status st = sbx_load_module_with(p_.get(), name.data(),
                                         name.size(), wasm.data(), wasm.size(),
                                         options.get(), &m, &err);
    check(st, err);
    return module(m);
  }

  compiled compile(const std::vector<std::uint8_t> &wasm,
                   std::uint64_t timeout_ns = 0,
                   const sbx::cancel *token = nullptr) const {
    sbx_compiled *c = nullptr;
    sbx_error *err = nullptr;
    sbx_status st = sbx_compile(p_.get(), wasm.data(), wasm.size(), timeout_ns,
                                token ? token->get() : nullptr, &c, &err);
    check(st, err);
    return compiled(c);
  }

  sbx_host_counters stats() const {
    sbx_host_counters s{};
    s.size = sizeof s;
    check(sbx_host_stats(p_.get(), &s));
    return s;
  }

  // sbx_host_define_func as is: `free_user_data` runs once, when the host is
  // gone or right away if this throws.
  void define_func(std::string_view module_name, std::string_view func_name,
                   const std::vector<sbx_value_type> &params,
                   const std::vector<sbx_value_type> &results,
                   sbx_host_func_callback callback, void *user_data,
                   sbx_free_callback free_user_data) const {
    static_assert(sizeof(sbx_value_type) == sizeof(std::uint8_t),
                  "value types are bytes");
    sbx_error *err = nullptr;
    sbx_status st = sbx_host_define_func(
        p_.get(), module_name.data(), module_name.size(),
        func_name.data(), func_name.size(),
        reinterpret_cast<const std::uint8_t *>(params.data()), params.size(),
        reinterpret_cast<const std::uint8_t *>(results.data()), results.size(),
        callback, user_data, free_user_data, &err);
    check(st, err);
  }

  sbx_host *get() const noexcept { return p_.get(); }
  sbx_host *release() noexcept { return p_.release(); }

 private:
  explicit host(const sbx_config *c) {
    sbx_host *h = nullptr;
    sbx_error *err = nullptr;
    sbx_status st = sbx_host_new(c, &h, &err);
    check(st, err);
    p_.reset(h);
  }

  std::unique_ptr<sbx_host, detail::deleter<sbx_host, sbx_close>> p_;
};

inline cancel::cancel(const host &h) {
  sbx_cancel *raw = nullptr;
  check(sbx_cancel_new(h.get(), &raw));
  p_.reset(raw);
}

}  // namespace sbx

#endif  // SBX_HPP
