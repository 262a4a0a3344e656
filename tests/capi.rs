//! The C ABI, called from Rust exactly as C would call it, for what the C
//! suite (tests/c, under ctest and AddressSanitizer) does not check: names
//! compared with the core's, out-params that must stay untouched when a
//! function fails, and a few extremes and details. Everything else about
//! the C ABI is tested in C.

mod common;

use common::{fixture, ms, TempDir};
use sbx::capi::*;
use sbx::{Status, TrapCode};
use std::ffi::CStr;
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

/// A pointer value no sbx function would ever write; used to pre-fill out-params.
fn sentinel<T>() -> *mut T {
    0x5b5 as *mut T
}

fn sentinel_const<T>() -> *const T {
    0x5b5 as *const T
}

fn c_str(ptr: *const std::ffi::c_char) -> String {
    assert!(!ptr.is_null());
    unsafe { CStr::from_ptr(ptr) }.to_str().unwrap().to_owned()
}

/// Owns an `sbx_error` and frees it on drop.
struct ErrorBox(*mut sbx_error);

impl ErrorBox {
    fn status(&self) -> Status {
        sbx_error_status(self.0)
    }
    fn message(&self) -> String {
        c_str(sbx_error_message(self.0))
    }
    fn trap_code(&self) -> TrapCode {
        sbx_error_trap_code(self.0)
    }
    fn backtrace(&self) -> String {
        c_str(sbx_error_backtrace(self.0))
    }
}

impl Drop for ErrorBox {
    fn drop(&mut self) {
        sbx_error_free(self.0);
    }
}

/// Runs `f` with an error out-param and checks the error matches the status.
fn with_error(f: impl FnOnce(*mut *mut sbx_error) -> Status) -> (Status, Option<ErrorBox>) {
    let mut err: *mut sbx_error = null_mut();
    let status = f(&mut err);
    if status == Status::Ok {
        assert!(err.is_null(), "error written on success");
        return (status, None);
    }
    assert!(!err.is_null(), "no error written for {status:?}");
    let err = ErrorBox(err);
    assert_eq!(err.status(), status);
    common::assert_one_line(&err.message());
    (status, Some(err))
}

struct HostBox(*mut sbx_host);

impl Drop for HostBox {
    fn drop(&mut self) {
        sbx_close(self.0);
    }
}

fn new_host(config: *const sbx_config) -> HostBox {
    let mut host: *mut sbx_host = null_mut();
    let (status, err) = with_error(|e| sbx_host_new(config, &mut host, e));
    assert_eq!(status, Status::Ok, "{:?}", err.map(|e| e.message()));
    assert!(!host.is_null());
    HostBox(host)
}

struct ModuleBox(*mut sbx_module);

// SAFETY: sbx_module may be used from several threads at once (sbx.h).
unsafe impl Send for ModuleBox {}
unsafe impl Sync for ModuleBox {}

impl Drop for ModuleBox {
    fn drop(&mut self) {
        sbx_module_free(self.0);
    }
}

fn try_load(
    host: &HostBox,
    name: &str,
    wasm: &[u8],
    timeout_ns: u64,
) -> Result<ModuleBox, ErrorBox> {
    let mut module: *mut sbx_module = sentinel();
    let (status, err) = with_error(|e| {
        sbx_load_module(
            host.0,
            name.as_ptr().cast(),
            name.len(),
            wasm.as_ptr(),
            wasm.len(),
            timeout_ns,
            null(),
            &mut module,
            e,
        )
    });
    match err {
        None => {
            assert_eq!(status, Status::Ok);
            assert!(!module.is_null() && module != sentinel());
            Ok(ModuleBox(module))
        }
        Some(err) => {
            assert_eq!(module, sentinel(), "module_out written on failure");
            Err(err)
        }
    }
}

fn load(host: &HostBox, fixture_name: &str) -> ModuleBox {
    try_load(host, fixture_name, &fixture(fixture_name), SBX_TIMEOUT_NONE)
        .unwrap_or_else(|e| panic!("load {fixture_name}: {}", e.message()))
}

/// Calls through the C ABI; results are pre-filled with a sentinel.
fn call_full(
    module: *const sbx_module,
    func: &[u8],
    params: &[u64],
    results_cap: usize,
    timeout_ns: u64,
    cancel: *const sbx_cancel,
) -> (Status, Vec<u64>, Option<ErrorBox>) {
    let mut results = vec![0xdead_beef_u64; results_cap];
    let mut written: usize = 0x5b5;
    let (status, err) = with_error(|e| {
        sbx_call_with_timeout(
            module,
            func.as_ptr().cast(),
            func.len(),
            params.as_ptr(),
            params.len(),
            results.as_mut_ptr(),
            results_cap,
            &mut written,
            timeout_ns,
            cancel,
            e,
        )
    });
    if status == Status::Ok {
        assert!(written <= results_cap);
        results.truncate(written);
    } else {
        assert_eq!(written, 0x5b5, "results_len_out written on failure");
        assert!(
            results.iter().all(|r| *r == 0xdead_beef),
            "results written on failure"
        );
        results.clear();
    }
    (status, results, err)
}

fn call(module: &ModuleBox, func: &str, params: &[u64]) -> (Status, Vec<u64>, Option<ErrorBox>) {
    call_full(
        module.0,
        func.as_bytes(),
        params,
        8,
        SBX_TIMEOUT_NONE,
        null(),
    )
}

struct ConfigBox(*mut sbx_config);

impl ConfigBox {
    fn new() -> ConfigBox {
        let config = sbx_config_new();
        assert!(!config.is_null());
        ConfigBox(config)
    }
}

impl Drop for ConfigBox {
    fn drop(&mut self) {
        sbx_config_free(self.0);
    }
}

#[test]
fn every_status_and_trap_code_has_the_cores_name() {
    // The C layer's names are the core's, for every value, and anything
    // else is "unknown" (the C suite checks the enumerators sbx.h has).
    let statuses = (0..1000u32).chain([0x8000_0000, u32::MAX - 1, u32::MAX]);
    for value in statuses {
        let want = Status::from_u32(value).map_or("SBX_STATUS_UNKNOWN", Status::name);
        assert_eq!(c_str(sbx_status_name(value)), want, "status {value}");
    }
    for code in 0..=u8::MAX {
        let want = TrapCode::from_u8(code).map_or("unknown", TrapCode::name);
        assert_eq!(c_str(sbx_trap_code_name(code)), want, "trap code {code}");
    }
    assert_eq!(c_str(sbx_trap_code_name(0)), "none");
    assert_eq!(c_str(sbx_trap_code_name(8)), "integer divide by zero");
    assert_eq!(c_str(sbx_trap_code_name(255)), "other");
}

/// Every out-param keeps a value no sbx function writes (the sentinel)
/// when its function fails, and `error_out` keeps it when one succeeds.
/// (The C suite starts its out-params at NULL, so it cannot see a NULL
/// written on failure.)
#[test]
fn failures_leave_every_out_param_untouched() {
    // sbx_host_new: error_out on success, host_out on failure.
    let mut host: *mut sbx_host = null_mut();
    let mut err: *mut sbx_error = sentinel();
    assert_eq!(sbx_host_new(null(), &mut host, &mut err), Status::Ok);
    assert_eq!(err, sentinel());
    sbx_close(host);
    let (status, err) = with_error(|e| sbx_host_new(null(), null_mut(), e));
    assert_eq!(status, Status::InvalidArgument);
    assert!(err.unwrap().message().contains("host_out"));
    let dir = TempDir::new("capi-out");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let bad = blocker.join("sub");
    let bad = bad.to_str().unwrap();
    let config = ConfigBox::new();
    assert_eq!(
        sbx_config_set_cache_dir(config.0, bad.as_ptr().cast(), bad.len()),
        Status::Ok
    );
    let mut host: *mut sbx_host = sentinel();
    let (status, _) = with_error(|e| sbx_host_new(config.0, &mut host, e));
    assert_eq!((status, host), (Status::Io, sentinel()));

    // Loads: module_out, whatever the failure (try_load checks it).
    let config = ConfigBox::new();
    assert_eq!(sbx_config_set_max_modules(config.0, 1), Status::Ok);
    let host = new_host(config.0);
    let cases: [(&str, &[u8], Status); 4] = [
        (" ", &fixture("add"), Status::InvalidArgument),
        ("junk", b"\0asm junk", Status::CompileError),
        ("u", &fixture("unresolved_import"), Status::LinkError),
        ("big", &fixture("big_memory"), Status::ResourceLimit),
    ];
    for (name, wasm, want) in cases {
        let err = try_load(&host, name, wasm, 0).err().unwrap();
        assert_eq!(err.status(), want, "{name}");
    }
    let wasm = fixture("add");
    let mut module: *mut sbx_module = sentinel();
    let (status, _) = with_error(|e| {
        sbx_load_module(
            null(),
            b"m".as_ptr().cast(),
            1,
            wasm.as_ptr(),
            wasm.len(),
            0,
            null(),
            &mut module,
            e,
        )
    });
    assert_eq!((status, module), (Status::InvalidArgument, sentinel()));
    let (status, _) = with_error(|e| {
        sbx_load_module_with(
            host.0,
            b"m".as_ptr().cast(),
            1,
            b"junk".as_ptr(),
            4,
            null(),
            &mut module,
            e,
        )
    });
    assert_eq!((status, module), (Status::CompileError, sentinel()));
    let all = load(&host, "all_types");
    let err = try_load(&host, "second", &wasm, 0).err().unwrap();
    assert_eq!(err.status(), Status::InstanceLimit);

    // Calls: results and results_len_out (call_full checks them).
    let failing: [(&[u8], &[u64], usize, Status); 5] = [
        (b"nope", &[], 1, Status::ExportNotFound),
        (b"id_i32", &[], 1, Status::SignatureMismatch),
        (b"id_i32", &[1], 0, Status::SignatureMismatch),
        (b"v128_param", &[0], 1, Status::SignatureMismatch),
        (&[0xff], &[], 1, Status::InvalidArgument),
    ];
    for (func, params, cap, want) in failing {
        let (status, _, _) = call_full(all.0, func, params, cap, 0, null());
        assert_eq!(status, want, "{func:?}");
    }
    let (status, _, err) = call_full(null(), b"add", &[1, 2], 1, 0, null());
    assert_eq!(status, Status::InvalidArgument);
    assert!(err.unwrap().message().contains("module"));
    // Lengths below PTRDIFF_MAX whose size in bytes is not (the C suite
    // tries lengths above it).
    let mut out = [0xdead_beef_u64; 1];
    let mut written = 9usize;
    for (params_len, results_cap) in [(usize::MAX / 4, 1), (1, usize::MAX / 4)] {
        let status = sbx_call_with_timeout(
            all.0,
            b"id_i32".as_ptr().cast(),
            6,
            [1u64].as_ptr(),
            params_len,
            out.as_mut_ptr(),
            results_cap,
            &mut written,
            0,
            null(),
            null_mut(),
        );
        assert_eq!(
            status,
            Status::InvalidArgument,
            "{params_len} {results_cap}"
        );
        assert_eq!((written, out[0]), (9, 0xdead_beef));
    }

    // Descriptions and accessors on NULL, past the end, or closed.
    let mut count = 77usize;
    assert_eq!(
        sbx_module_function_count(null(), &mut count),
        Status::InvalidArgument
    );
    assert_eq!(count, 77);
    let mut name: *const std::ffi::c_char = sentinel_const();
    let mut name_len = 77usize;
    assert_eq!(
        sbx_module_name(null(), &mut name, &mut name_len),
        Status::InvalidArgument
    );
    assert_eq!((name, name_len), (sentinel_const(), 77));
    let mut info = sbx_function_info {
        name: sentinel_const(),
        name_len: 7,
        params: null(),
        params_len: 7,
        results: null(),
        results_len: 7,
    };
    for index in [10, usize::MAX] {
        assert_eq!(
            sbx_module_function_at(all.0, index, &mut info),
            Status::InvalidArgument
        );
    }
    assert_eq!(
        sbx_module_function_at(null(), 0, &mut info),
        Status::InvalidArgument
    );
    assert_eq!((info.name, info.name_len), (sentinel_const(), 7));
    assert_eq!((info.params_len, info.results_len), (7, 7));
    let mut cancel: *mut sbx_cancel = sentinel();
    assert_eq!(sbx_cancel_new(null(), &mut cancel), Status::InvalidArgument);
    assert_eq!(cancel, sentinel());
    let mut source = sbx_cache_source::Disk;
    assert_eq!(
        sbx_module_cache_source(null(), &mut source),
        Status::InvalidArgument
    );
    assert_eq!(source, sbx_cache_source::Disk);
    let mut fuel = 77u64;
    assert_eq!(
        sbx_module_last_call_fuel(null(), &mut fuel),
        Status::InvalidArgument
    );
    assert_eq!(sbx_module_close(all.0), Status::Ok);
    assert_eq!(
        sbx_module_last_call_fuel(all.0, &mut fuel),
        Status::HandleClosed
    );
    assert_eq!(fuel, 77);
    let (status, _, _) = call_full(all.0, b"id_i32", &[1], 1, 0, null());
    assert_eq!(status, Status::HandleClosed);
}

#[test]
fn config_extremes_are_recorded_and_refused_with_the_librarys_message() {
    // The extremes and orders the C suite's ranges do not reach. Setters
    // record any value; sbx_config_validate and sbx_host_new refuse one out
    // of range with the same message, leaving host_out untouched.
    let config = ConfigBox::new();
    let c = config.0;
    let refused = |want: &str| {
        let (status, err) = with_error(|e| sbx_config_validate(c, e));
        assert_eq!(status, Status::InvalidArgument, "{want}");
        assert_eq!(err.unwrap().message(), want);
        let mut host: *mut sbx_host = sentinel();
        let (status, err) = with_error(|e| sbx_host_new(c, &mut host, e));
        assert_eq!((status, host), (Status::InvalidArgument, sentinel()));
        assert_eq!(err.unwrap().message(), want);
    };
    let valid = || {
        let (status, err) = with_error(|e| sbx_config_validate(c, e));
        assert_eq!(status, Status::Ok, "{:?}", err.map(|e| e.message()));
    };
    assert_eq!(sbx_config_set_memory_limit(c, u64::MAX), Status::Ok);
    refused(&format!(
        "memory limit {} is outside 64 KiB..=4 GiB",
        u64::MAX
    ));
    assert_eq!(sbx_config_set_memory_limit(c, 1 << 20), Status::Ok);
    assert_eq!(sbx_config_set_table_elements_limit(c, u64::MAX), Status::Ok);
    refused("table elements limit must be 1..=2^32-1");
    assert_eq!(sbx_config_set_table_elements_limit(c, 10), Status::Ok);
    assert_eq!(sbx_config_set_max_wasm_stack(c, 0), Status::Ok);
    refused("max wasm stack 0 is outside 16 KiB..=4 MiB");
    assert_eq!(sbx_config_set_max_wasm_stack(c, 1 << 20), Status::Ok);
    valid();
    // Pooling caps the slot count, whichever is set first.
    assert_eq!(sbx_config_set_max_modules(c, 5000), Status::Ok);
    assert_eq!(sbx_config_set_pooling(c, true), Status::Ok);
    refused("a pooled host has at most 4096 slots, not 5000");
    assert_eq!(sbx_config_set_max_modules(c, 2), Status::Ok);
    valid();
    assert_eq!(sbx_config_set_max_modules(c, 5000), Status::Ok);
    refused("a pooled host has at most 4096 slots, not 5000");
    assert_eq!(sbx_config_set_pooling(c, false), Status::Ok);
    valid();
    // SBX_TIMEOUT_NONE and 0 are both accepted, for both timeouts.
    assert_eq!(
        sbx_config_set_exec_timeout_ns(c, SBX_TIMEOUT_NONE),
        Status::Ok
    );
    assert_eq!(sbx_config_set_load_timeout_ns(c, 0), Status::Ok);

    // The last value set is the one the host gets: an out-of-range value
    // set before it leaves no trace.
    assert_eq!(sbx_config_set_memory_limit(c, 0), Status::Ok);
    assert_eq!(sbx_config_set_memory_limit(c, 1 << 20), Status::Ok);
    assert_eq!(sbx_config_set_max_modules(c, 0), Status::Ok);
    assert_eq!(sbx_config_set_max_modules(c, 2), Status::Ok);
    let host = new_host(c);
    drop(config); // the host copied it
    let bomb = load(&host, "memory_bomb");
    let (status, results, _) = call(&bomb, "grow_all", &[]);
    assert_eq!(
        (status, results),
        (Status::Ok, vec![16]),
        "1 MiB = 16 pages"
    );
    let _second = load(&host, "add");
    let err = try_load(&host, "third", &fixture("add"), 0).err().unwrap();
    assert_eq!(err.status(), Status::InstanceLimit);
}

#[test]
fn load_details_the_c_suite_does_not_check() {
    let host = new_host(null());
    // NULL bytes of length 0 are no bytes: a compile error, not a pointer one.
    let mut module: *mut sbx_module = sentinel();
    let (status, _) = with_error(|e| {
        sbx_load_module(
            host.0,
            b"m".as_ptr().cast(),
            1,
            null(),
            0,
            0,
            null(),
            &mut module,
            e,
        )
    });
    assert_eq!((status, module), (Status::CompileError, sentinel()));
    // A compile error carries no trap code and an empty backtrace.
    let err = try_load(&host, "junk", b"\0asm junk", 0).err().unwrap();
    assert_eq!(err.status(), Status::CompileError);
    assert_eq!(err.trap_code(), TrapCode::None);
    assert_eq!(err.backtrace(), "");
    // The module's name is one stable string, whichever out-params are asked for.
    let wasm = fixture("add");
    let module = try_load(&host, "plugin-a", &wasm, 0).ok().unwrap();
    let mut name: *const std::ffi::c_char = null();
    let mut len = 0usize;
    assert_eq!(sbx_module_name(module.0, &mut name, &mut len), Status::Ok);
    assert_eq!((c_str(name), len), ("plugin-a".to_owned(), 8));
    let mut again: *const std::ffi::c_char = null();
    assert_eq!(
        sbx_module_name(module.0, &mut again, null_mut()),
        Status::Ok
    );
    assert_eq!(again, name);
    // A load timeout is never early.
    let start = Instant::now();
    let err = try_load(&host, "spin", &fixture("start_loop"), 100_000_000)
        .err()
        .unwrap();
    assert_eq!(err.status(), Status::Timeout);
    assert!(start.elapsed() >= ms(100), "{:?}", start.elapsed());
}

#[test]
fn call_errors_name_the_export_and_traps_carry_a_backtrace() {
    let host = new_host(null());
    let add = load(&host, "add");
    let (status, _, err) = call_full(add.0, b"nope", &[], 1, 0, null());
    assert_eq!(status, Status::ExportNotFound);
    assert!(err.unwrap().message().contains("nope"));
    let all = load(&host, "all_types");
    let (status, _, err) = call(&all, "memory", &[]);
    assert_eq!(status, Status::ExportNotFound);
    assert!(err.unwrap().message().contains("memory"));
    // Each trap, not just some, has a backtrace.
    let cases: [(&str, &[u64], TrapCode); 4] = [
        ("trap_unreachable", &[], TrapCode::Unreachable),
        ("trap_divide_by_zero", &[0], TrapCode::IntegerDivisionByZero),
        (
            "trap_memory_out_of_bounds",
            &[],
            TrapCode::MemoryOutOfBounds,
        ),
        (
            "trap_indirect_call_to_null",
            &[],
            TrapCode::IndirectCallToNull,
        ),
    ];
    for (name, params, code) in cases {
        let module = load(&host, name);
        let (status, _, err) = call(&module, "run", params);
        assert_eq!(status, Status::Trap, "{name}");
        let err = err.unwrap();
        assert_eq!(err.trap_code(), code, "{name}");
        let backtrace = err.backtrace();
        assert!(!backtrace.is_empty(), "{name}");
        // One frame per line, innermost first, and nothing but frames.
        for (i, line) in backtrace.lines().enumerate() {
            assert!(line.starts_with(&format!("{i}: ")), "{name}: {line:?}");
            assert!(line.contains('!'), "{name}: {line:?}");
        }
    }
    // Without error_out, only the status comes back.
    let module = load(&host, "trap_unreachable");
    let status = sbx_call_with_timeout(
        module.0,
        b"run".as_ptr().cast(),
        3,
        null(),
        0,
        null_mut(),
        0,
        null_mut(),
        0,
        null(),
        null_mut(),
    );
    assert_eq!(status, Status::Trap);
}

#[test]
fn timeout_none_overrides_the_host_default_and_cancel_stops_a_start_function() {
    let config = ConfigBox::new();
    assert_eq!(
        sbx_config_set_exec_timeout_ns(config.0, 50_000_000),
        Status::Ok
    );
    let host = new_host(config.0);
    let looping = std::sync::Arc::new(load(&host, "infinite_loop"));
    let (status, _, _) = call_full(looping.0, b"loop", &[], 0, 0, null());
    assert_eq!(status, Status::Timeout, "the host default");
    // SBX_TIMEOUT_NONE overrides the host default; interrupt stops it.
    let runner = looping.clone();
    let worker = std::thread::spawn(move || {
        call_full(runner.0, b"loop", &[], 0, SBX_TIMEOUT_NONE, null()).0
    });
    std::thread::sleep(ms(300));
    assert!(!worker.is_finished(), "the host default applied");
    let start = Instant::now();
    while !worker.is_finished() {
        assert_eq!(sbx_module_interrupt(looping.0), Status::Ok);
        assert!(start.elapsed() < Duration::from_secs(30));
        std::thread::sleep(ms(10));
    }
    assert_eq!(worker.join().unwrap(), Status::Interrupted);

    // A token from another host is refused by a load too.
    let other = new_host(null());
    let mut foreign: *mut sbx_cancel = null_mut();
    assert_eq!(sbx_cancel_new(other.0, &mut foreign), Status::Ok);
    let wasm = fixture("add");
    let mut module: *mut sbx_module = sentinel();
    let (status, _) = with_error(|e| {
        sbx_load_module(
            host.0,
            b"m".as_ptr().cast(),
            1,
            wasm.as_ptr(),
            wasm.len(),
            0,
            foreign,
            &mut module,
            e,
        )
    });
    assert_eq!((status, module), (Status::InvalidArgument, sentinel()));
    sbx_cancel_free(foreign);
    // Triggered from another thread while a start function runs.
    let mut cancel: *mut sbx_cancel = null_mut();
    assert_eq!(sbx_cancel_new(host.0, &mut cancel), Status::Ok);
    let trigger_at = cancel as usize;
    let trigger = std::thread::spawn(move || {
        std::thread::sleep(ms(100));
        sbx_cancel_trigger(trigger_at as *const sbx_cancel)
    });
    let spin = fixture("start_loop");
    let (status, _) = with_error(|e| {
        sbx_load_module(
            host.0,
            b"s".as_ptr().cast(),
            1,
            spin.as_ptr(),
            spin.len(),
            SBX_TIMEOUT_NONE,
            cancel,
            &mut module,
            e,
        )
    });
    assert_eq!(trigger.join().unwrap(), Status::Ok);
    assert_eq!((status, module), (Status::Interrupted, sentinel()));
    sbx_cancel_free(cancel);
}

#[test]
fn an_exhausted_call_used_its_whole_fuel_budget() {
    let config = ConfigBox::new();
    assert_eq!(sbx_config_set_fuel(config.0, 100_000), Status::Ok);
    let host = new_host(config.0);
    let looping = load(&host, "infinite_loop");
    let (status, _, _) = call(&looping, "loop", &[]);
    assert_eq!(status, Status::FuelExhausted);
    let mut fuel = 0u64;
    assert_eq!(sbx_module_last_call_fuel(looping.0, &mut fuel), Status::Ok);
    assert_eq!(fuel, 100_000);
}

#[test]
fn export_names_with_nul_bytes_keep_their_length() {
    // name/name_len describe the exact bytes, so a name with a NUL inside
    // can be passed back to a call.
    let host = new_host(null());
    let wasm = common::wat(r#"(module (func (export "a\00b") (result i32) i32.const 7))"#);
    let module = try_load(&host, "x", &wasm, 0).ok().unwrap();
    let mut info = std::mem::MaybeUninit::<sbx_function_info>::zeroed();
    assert_eq!(
        sbx_module_function_at(module.0, 0, info.as_mut_ptr()),
        Status::Ok
    );
    let info = unsafe { info.assume_init() };
    let name = unsafe { std::slice::from_raw_parts(info.name.cast::<u8>(), info.name_len) };
    assert_eq!(name, b"a\0b");
    let (status, results, _) = call_full(module.0, name, &[], 1, 0, null());
    assert_eq!((status, results), (Status::Ok, vec![7]));
    let (status, _, _) = call_full(module.0, b"a", &[], 1, 0, null());
    assert_eq!(status, Status::ExportNotFound, "the name stops at no NUL");
}
