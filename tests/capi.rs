//! The C ABI, called from Rust exactly as C would call it: raw pointers,
//! NULL arguments, bad lengths, non-UTF-8 names, unknown enum values, and
//! out-params that must stay untouched when a function fails.

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
fn version_and_names() {
    assert_eq!(c_str(sbx_version()), sbx::VERSION);
    assert_eq!(c_str(sbx_status_name(0)), "SBX_STATUS_OK");
    assert_eq!(c_str(sbx_status_name(30)), "SBX_STATUS_TIMEOUT");
    assert_eq!(c_str(sbx_status_name(99)), "SBX_STATUS_INTERNAL");
    for unknown in [4u32, 9, 14, 50, 98, 100, 1000, u32::MAX] {
        assert_eq!(
            c_str(sbx_status_name(unknown)),
            "SBX_STATUS_UNKNOWN",
            "{unknown}"
        );
    }
    for value in 0..200u32 {
        if let Some(status) = Status::from_u32(value) {
            assert_eq!(c_str(sbx_status_name(value)), status.name());
        }
    }
    assert_eq!(c_str(sbx_trap_code_name(0)), "none");
    assert_eq!(c_str(sbx_trap_code_name(8)), "integer divide by zero");
    assert_eq!(c_str(sbx_trap_code_name(255)), "other");
    for unknown in [13u8, 100, 254] {
        assert_eq!(c_str(sbx_trap_code_name(unknown)), "unknown", "{unknown}");
    }
}

#[test]
fn null_handles_are_invalid_arguments_or_no_ops() {
    // Frees and closes of NULL are no-ops.
    sbx_config_free(null_mut());
    sbx_close(null_mut());
    sbx_module_free(null_mut());
    sbx_cancel_free(null_mut());
    sbx_error_free(null_mut());
    assert_eq!(sbx_module_close(null()), Status::Ok);
    // Error accessors on NULL.
    assert_eq!(sbx_error_status(null()), Status::InvalidArgument);
    assert!(sbx_error_message(null()).is_null());
    assert!(sbx_error_backtrace(null()).is_null());
    assert_eq!(sbx_error_trap_code(null()), TrapCode::None);
    // Module functions on NULL.
    assert_eq!(sbx_module_interrupt(null()), Status::InvalidArgument);
    let mut fuel = 77u64;
    assert_eq!(
        sbx_module_last_call_fuel(null(), &mut fuel),
        Status::InvalidArgument
    );
    assert_eq!(fuel, 77);
    let mut count = 77usize;
    assert_eq!(
        sbx_module_function_count(null(), &mut count),
        Status::InvalidArgument
    );
    assert_eq!(count, 77);
    let mut name: *const std::ffi::c_char = sentinel_const();
    assert_eq!(
        sbx_module_name(null(), &mut name, null_mut()),
        Status::InvalidArgument
    );
    assert_eq!(name, sentinel_const());
    // Cancel functions on NULL.
    assert_eq!(sbx_cancel_trigger(null()), Status::InvalidArgument);
    assert_eq!(sbx_cancel_reset(null_mut()), Status::InvalidArgument);
    let mut cancel: *mut sbx_cancel = sentinel();
    assert_eq!(sbx_cancel_new(null(), &mut cancel), Status::InvalidArgument);
    assert_eq!(cancel, sentinel());
    // Calls and loads on a NULL handle.
    let (status, _, err) = call_full(null(), b"add", &[1, 2], 1, 0, null());
    assert_eq!(status, Status::InvalidArgument);
    assert!(err.unwrap().message().contains("module"));
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
    assert_eq!(status, Status::InvalidArgument);
    assert_eq!(module, sentinel());
}

#[test]
fn host_new_checks_its_out_param_and_reports_errors_only_on_request() {
    let (status, err) = with_error(|e| sbx_host_new(null(), null_mut(), e));
    assert_eq!(status, Status::InvalidArgument);
    assert!(err.unwrap().message().contains("host_out"));
    // error_out is optional.
    assert_eq!(
        sbx_host_new(null(), null_mut(), null_mut()),
        Status::InvalidArgument
    );
    // On success error_out is left alone.
    let mut host: *mut sbx_host = null_mut();
    let mut err: *mut sbx_error = sentinel();
    assert_eq!(sbx_host_new(null(), &mut host, &mut err), Status::Ok);
    assert_eq!(err, sentinel());
    sbx_close(host);
}

#[test]
fn config_setters_record_and_validate_explains() {
    let config = ConfigBox::new();
    let c = config.0;
    // NULL config.
    assert_eq!(
        sbx_config_set_exec_timeout_ns(null_mut(), 1),
        Status::InvalidArgument
    );
    assert_eq!(
        sbx_config_set_load_timeout_ns(null_mut(), 1),
        Status::InvalidArgument
    );
    assert_eq!(
        sbx_config_set_memory_limit(null_mut(), 1 << 20),
        Status::InvalidArgument
    );
    assert_eq!(
        sbx_config_set_table_elements_limit(null_mut(), 1),
        Status::InvalidArgument
    );
    assert_eq!(
        sbx_config_set_max_wasm_stack(null_mut(), 1 << 20),
        Status::InvalidArgument
    );
    assert_eq!(
        sbx_config_set_max_modules(null_mut(), 1),
        Status::InvalidArgument
    );
    assert_eq!(sbx_config_set_fuel(null_mut(), 1), Status::InvalidArgument);
    assert_eq!(
        sbx_config_set_pooling(null_mut(), true),
        Status::InvalidArgument
    );
    assert_eq!(
        sbx_config_set_cache_dir(null_mut(), null(), 0),
        Status::InvalidArgument
    );
    // Setters record any value; sbx_config_validate (and sbx_host_new, with
    // the same message) refuse one out of range.
    let refused = |set: &dyn Fn() -> Status, want: &str| {
        assert_eq!(set(), Status::Ok);
        let (status, err) = with_error(|e| sbx_config_validate(c, e));
        assert_eq!(status, Status::InvalidArgument, "{want}");
        assert_eq!(err.unwrap().message(), want);
        let mut host: *mut sbx_host = sentinel();
        let (status, err) = with_error(|e| sbx_host_new(c, &mut host, e));
        assert_eq!((status, host), (Status::InvalidArgument, sentinel()));
        assert_eq!(err.unwrap().message(), want);
    };
    let restore = || {
        assert_eq!(sbx_config_set_memory_limit(c, 1 << 20), Status::Ok);
        assert_eq!(sbx_config_set_table_elements_limit(c, 10), Status::Ok);
        assert_eq!(sbx_config_set_max_wasm_stack(c, 1 << 20), Status::Ok);
        assert_eq!(sbx_config_set_max_modules(c, 2), Status::Ok);
        assert_eq!(sbx_config_set_max_abandoned_compiles(c, 2), Status::Ok);
        assert_eq!(sbx_config_set_pooling(c, false), Status::Ok);
        let (status, _) = with_error(|e| sbx_config_validate(c, e));
        assert_eq!(status, Status::Ok);
    };
    for bytes in [0, 65535, (4 << 30) + 1, u64::MAX] {
        let want = format!("memory limit {bytes} is outside 64 KiB..=4 GiB");
        refused(&|| sbx_config_set_memory_limit(c, bytes), &want);
        restore();
    }
    for elements in [0, 1 << 32, u64::MAX] {
        refused(
            &|| sbx_config_set_table_elements_limit(c, elements),
            "table elements limit must be 1..=2^32-1",
        );
        restore();
    }
    for stack in [0, 16 * 1024 - 1, (4 << 20) + 1] {
        let want = format!("max wasm stack {stack} is outside 16 KiB..=4 MiB");
        refused(&|| sbx_config_set_max_wasm_stack(c, stack), &want);
        restore();
    }
    refused(
        &|| sbx_config_set_max_modules(c, 0),
        "max modules must be at least 1",
    );
    restore();
    refused(
        &|| sbx_config_set_max_abandoned_compiles(c, 0),
        "max abandoned compiles must be at least 1: at 0 every compile would be refused",
    );
    restore();
    // Pooling caps the slot count, whichever is set first.
    assert_eq!(sbx_config_set_max_modules(c, 5000), Status::Ok);
    refused(
        &|| sbx_config_set_pooling(c, true),
        "a pooled host has at most 4096 slots, not 5000",
    );
    restore();
    assert_eq!(sbx_config_set_pooling(c, true), Status::Ok);
    refused(
        &|| sbx_config_set_max_modules(c, 5000),
        "a pooled host has at most 4096 slots, not 5000",
    );
    restore();
    assert_eq!(
        sbx_config_validate(null(), null_mut()),
        Status::InvalidArgument
    );
    // Cache dir: NULL with a length, and non-UTF-8.
    assert_eq!(
        sbx_config_set_cache_dir(c, null(), 5),
        Status::InvalidArgument
    );
    let bad = [b'/', 0xff, 0xfe];
    assert_eq!(
        sbx_config_set_cache_dir(c, bad.as_ptr().cast(), bad.len()),
        Status::InvalidArgument
    );
    assert_eq!(sbx_config_set_cache_dir(c, null(), 0), Status::Ok);
    // Fuel 0 and timeouts 0 / SBX_TIMEOUT_NONE mean "off".
    assert_eq!(sbx_config_set_fuel(c, 0), Status::Ok);
    assert_eq!(sbx_config_set_exec_timeout_ns(c, 0), Status::Ok);
    assert_eq!(
        sbx_config_set_exec_timeout_ns(c, SBX_TIMEOUT_NONE),
        Status::Ok
    );
    assert_eq!(sbx_config_set_load_timeout_ns(c, 0), Status::Ok);

    // The last value set is the one the host gets.
    assert_eq!(sbx_config_set_memory_limit(c, 0), Status::Ok);
    assert_eq!(sbx_config_set_memory_limit(c, 1 << 20), Status::Ok);
    assert_eq!(sbx_config_set_max_modules(c, 2), Status::Ok);
    let host = new_host(c);
    drop(config); // the host copied it
    let bomb = load(&host, "memory_bomb");
    let (status, results, _) = call(&bomb, "grow_all", &[]);
    assert_eq!((status, results), (Status::Ok, vec![16]));
    let _second = load(&host, "add");
    let err = try_load(&host, "third", &fixture("add"), 0).err().unwrap();
    assert_eq!(err.status(), Status::InstanceLimit);
}

#[test]
fn load_rejects_bad_names_and_lengths() {
    let host = new_host(null());
    let wasm = fixture("add");
    let load_raw = |name: *const u8, name_len: usize, wasm: *const u8, wasm_len: usize| {
        let mut module: *mut sbx_module = sentinel();
        let (status, err) = with_error(|e| {
            sbx_load_module(
                host.0,
                name.cast(),
                name_len,
                wasm,
                wasm_len,
                0,
                null(),
                &mut module,
                e,
            )
        });
        assert_eq!(module, sentinel());
        (status, err.map(|e| e.message()).unwrap_or_default())
    };
    let cases: Vec<(&str, *const u8, usize, *const u8, usize)> = vec![
        ("empty name", b"x".as_ptr(), 0, wasm.as_ptr(), wasm.len()),
        ("NULL empty name", null(), 0, wasm.as_ptr(), wasm.len()),
        (
            "whitespace name",
            b" \t ".as_ptr(),
            3,
            wasm.as_ptr(),
            wasm.len(),
        ),
        (
            "NULL name with a length",
            null(),
            4,
            wasm.as_ptr(),
            wasm.len(),
        ),
        (
            "non-UTF-8 name",
            [0xffu8, 0xfe, 0x41].as_ptr(),
            3,
            wasm.as_ptr(),
            wasm.len(),
        ),
        (
            "truncated UTF-8 name",
            "é".as_ptr(),
            1,
            wasm.as_ptr(),
            wasm.len(),
        ),
        (
            "huge name length",
            b"x".as_ptr(),
            usize::MAX,
            wasm.as_ptr(),
            wasm.len(),
        ),
        ("NULL wasm with a length", b"m".as_ptr(), 1, null(), 10),
        (
            "huge wasm length",
            b"m".as_ptr(),
            1,
            wasm.as_ptr(),
            usize::MAX,
        ),
    ];
    for (what, name, name_len, wasm_ptr, wasm_len) in cases {
        let (status, message) = load_raw(name, name_len, wasm_ptr, wasm_len);
        assert_eq!(status, Status::InvalidArgument, "{what}: {message}");
    }
    // NULL module_out.
    let (status, _) = with_error(|e| {
        sbx_load_module(
            host.0,
            b"m".as_ptr().cast(),
            1,
            wasm.as_ptr(),
            wasm.len(),
            0,
            null(),
            null_mut(),
            e,
        )
    });
    assert_eq!(status, Status::InvalidArgument);
    // Empty wasm is a compile error, not a pointer problem.
    assert_eq!(
        load_raw(b"m".as_ptr(), 1, null(), 0).0,
        Status::CompileError
    );
    // The name is taken as the exact bytes given (not NUL-terminated).
    let module = try_load(&host, "plugin-a", &wasm, 0).ok().unwrap();
    let mut name: *const std::ffi::c_char = null();
    let mut len = 0usize;
    assert_eq!(sbx_module_name(module.0, &mut name, &mut len), Status::Ok);
    assert_eq!((c_str(name), len), ("plugin-a".to_owned(), 8));
    let mut name2: *const std::ffi::c_char = null();
    assert_eq!(
        sbx_module_name(module.0, &mut name2, null_mut()),
        Status::Ok
    );
    assert_eq!(name2, name);
    assert_eq!(
        sbx_module_name(module.0, null_mut(), &mut len),
        Status::InvalidArgument
    );
    // A UTF-8 name is fine.
    assert!(try_load(&host, "plug-ïn ✓", &wasm, 0).is_ok());
}

#[test]
fn load_statuses() {
    let host = new_host(null());
    let err = try_load(&host, "junk", b"\0asm junk", 0).err().unwrap();
    assert_eq!(err.status(), Status::CompileError);
    assert_eq!(err.trap_code(), TrapCode::None);
    assert_eq!(err.backtrace(), "");
    let err = try_load(&host, "u", &fixture("unresolved_import"), 0)
        .err()
        .unwrap();
    assert_eq!(err.status(), Status::LinkError);
    assert!(
        err.message().contains("missing_function"),
        "{}",
        err.message()
    );
    let err = try_load(&host, "big", &fixture("big_memory"), 0)
        .err()
        .unwrap();
    assert_eq!(err.status(), Status::ResourceLimit);
    let start = Instant::now();
    let err = try_load(&host, "spin", &fixture("start_loop"), 100_000_000)
        .err()
        .unwrap();
    assert_eq!(err.status(), Status::Timeout);
    assert!(start.elapsed() >= ms(100));
}

#[test]
fn call_statuses_and_out_params() {
    let host = new_host(null());
    let add = load(&host, "add");
    let (status, results, _) = call(&add, "add", &[2, 40]);
    assert_eq!((status, results), (Status::Ok, vec![42]));
    // results_len_out and error_out may be NULL.
    let mut out = [0u64; 1];
    let status = sbx_call_with_timeout(
        add.0,
        b"add".as_ptr().cast(),
        3,
        [1u64, 2].as_ptr(),
        2,
        out.as_mut_ptr(),
        1,
        null_mut(),
        0,
        null(),
        null_mut(),
    );
    assert_eq!((status, out[0]), (Status::Ok, 3));

    // Bad pointers and lengths.
    let (status, _, _) = call_full(add.0, b"add", &[], 1, 0, null());
    assert_eq!(status, Status::SignatureMismatch);
    let mut written = 9usize;
    let status = sbx_call_with_timeout(
        add.0,
        b"add".as_ptr().cast(),
        3,
        null(),
        2,
        out.as_mut_ptr(),
        1,
        &mut written,
        0,
        null(),
        null_mut(),
    );
    assert_eq!(
        (status, written),
        (Status::InvalidArgument, 9),
        "NULL params with a length"
    );
    let status = sbx_call_with_timeout(
        add.0,
        b"add".as_ptr().cast(),
        3,
        [1u64, 2].as_ptr(),
        2,
        null_mut(),
        1,
        &mut written,
        0,
        null(),
        null_mut(),
    );
    assert_eq!(
        status,
        Status::InvalidArgument,
        "NULL results with a capacity"
    );
    let status = sbx_call_with_timeout(
        add.0,
        b"add".as_ptr().cast(),
        3,
        [1u64, 2].as_ptr(),
        usize::MAX / 4,
        out.as_mut_ptr(),
        1,
        &mut written,
        0,
        null(),
        null_mut(),
    );
    assert_eq!(status, Status::InvalidArgument, "params length overflows");
    let status = sbx_call_with_timeout(
        add.0,
        b"add".as_ptr().cast(),
        3,
        [1u64, 2].as_ptr(),
        2,
        out.as_mut_ptr(),
        usize::MAX,
        &mut written,
        0,
        null(),
        null_mut(),
    );
    assert_eq!(
        status,
        Status::InvalidArgument,
        "results capacity overflows"
    );
    let status = sbx_call_with_timeout(
        add.0,
        null(),
        3,
        [1u64, 2].as_ptr(),
        2,
        out.as_mut_ptr(),
        1,
        &mut written,
        0,
        null(),
        null_mut(),
    );
    assert_eq!(
        status,
        Status::InvalidArgument,
        "NULL function name with a length"
    );
    assert_eq!(written, 9);

    // Export and signature problems.
    let (status, _, err) = call_full(add.0, b"nope", &[], 1, 0, null());
    assert_eq!(status, Status::ExportNotFound);
    assert!(err.unwrap().message().contains("nope"));
    let (status, _, _) = call_full(add.0, &[0xff, 0xfe], &[], 1, 0, null());
    assert_eq!(
        status,
        Status::InvalidArgument,
        "bad UTF-8 is a caller mistake, for function names too"
    );
    let (status, _, _) = call_full(add.0, b"", &[], 1, 0, null());
    assert_eq!(status, Status::ExportNotFound);
    let (status, _, _) = call_full(add.0, b"add", &[1, 2], 0, 0, null());
    assert_eq!(status, Status::SignatureMismatch, "no room for the result");
    let all = load(&host, "all_types");
    for (func, params) in [("v128_param", &[0u64][..]), ("funcref_result", &[][..])] {
        let (status, _, _) = call_full(all.0, func.as_bytes(), params, 1, 0, null());
        assert_eq!(status, Status::SignatureMismatch, "{func}");
    }
    let (status, _, err) = call(&all, "memory", &[]);
    assert_eq!(status, Status::ExportNotFound);
    assert!(err.unwrap().message().contains("memory"));
    let (status, results, _) = call(&all, "swap", &[7, u64::MAX]);
    assert_eq!((status, results), (Status::Ok, vec![u64::MAX, 7]));
    let (status, results, _) = call(&all, "id_i32", &[0xffff_ffff_ffff_fff0]);
    assert_eq!((status, results), (Status::Ok, vec![0xffff_fff0]));
    let (status, results, _) = call(&all, "id_f32", &[1.5f32.to_bits() as u64]);
    assert_eq!(
        (status, results),
        (Status::Ok, vec![1.5f32.to_bits() as u64])
    );
}

#[test]
fn traps_carry_code_and_backtrace() {
    let host = new_host(null());
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
        assert!(!err.backtrace().trim().is_empty(), "{name}");
        assert!(
            !err.message().contains('\n'),
            "one-line message: {}",
            err.message()
        );
        assert_eq!(c_str(sbx_trap_code_name(code as u8)), code.name());
    }
    let bomb = load(&host, "stack_bomb");
    let (status, _, err) = call(&bomb, "recurse", &[0]);
    assert_eq!(status, Status::Trap);
    assert_eq!(err.unwrap().trap_code(), TrapCode::StackOverflow);
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
fn timeouts_interrupts_and_cancel_tokens() {
    let config = ConfigBox::new();
    assert_eq!(
        sbx_config_set_exec_timeout_ns(config.0, 50_000_000),
        Status::Ok
    );
    let host = new_host(config.0);
    let looping = std::sync::Arc::new(load(&host, "infinite_loop"));
    // Host default (0), then a per-call timeout.
    let (status, _, _) = call_full(looping.0, b"loop", &[], 0, 0, null());
    assert_eq!(status, Status::Timeout);
    let (status, _, _) = call_full(looping.0, b"loop", &[], 0, 20_000_000, null());
    assert_eq!(status, Status::Timeout);
    // No call in flight: interrupt is OK and does not affect the next call.
    assert_eq!(sbx_module_interrupt(looping.0), Status::Ok);
    let (status, _, _) = call_full(looping.0, b"loop", &[], 0, 0, null());
    assert_eq!(status, Status::Timeout);
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

    // Cancel tokens.
    let mut cancel: *mut sbx_cancel = null_mut();
    assert_eq!(sbx_cancel_new(host.0, &mut cancel), Status::Ok);
    assert_eq!(sbx_cancel_new(host.0, null_mut()), Status::InvalidArgument);
    assert_eq!(sbx_cancel_trigger(cancel), Status::Ok);
    let (status, _, _) = call_full(looping.0, b"loop", &[], 0, SBX_TIMEOUT_NONE, cancel);
    assert_eq!(status, Status::Interrupted);
    assert_eq!(sbx_cancel_reset(cancel), Status::Ok);
    let add = load(&host, "add");
    let (status, results, _) = call_full(add.0, b"add", &[1, 2], 1, 0, cancel);
    assert_eq!((status, results), (Status::Ok, vec![3]));
    // A token from another host is refused.
    let other = new_host(null());
    let mut foreign: *mut sbx_cancel = null_mut();
    assert_eq!(sbx_cancel_new(other.0, &mut foreign), Status::Ok);
    let (status, _, _) = call_full(add.0, b"add", &[1, 2], 1, 0, foreign);
    assert_eq!(status, Status::InvalidArgument);
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
    // Trigger from another thread during a load's start function.
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
    sbx_cancel_free(foreign);
}

#[test]
fn fuel_through_the_c_abi() {
    let config = ConfigBox::new();
    assert_eq!(sbx_config_set_fuel(config.0, 100_000), Status::Ok);
    let host = new_host(config.0);
    let looping = load(&host, "infinite_loop");
    let (status, _, _) = call(&looping, "loop", &[]);
    assert_eq!(status, Status::FuelExhausted);
    let mut fuel = 0u64;
    assert_eq!(sbx_module_last_call_fuel(looping.0, &mut fuel), Status::Ok);
    assert_eq!(fuel, 100_000);
    let fib = load(&host, "fib");
    let (status, results, _) = call(&fib, "fib", &[10]);
    assert_eq!((status, results), (Status::Ok, vec![55]));
    assert_eq!(sbx_module_last_call_fuel(fib.0, &mut fuel), Status::Ok);
    assert!(fuel > 0 && fuel < 100_000);
    assert_eq!(
        sbx_module_last_call_fuel(fib.0, null_mut()),
        Status::InvalidArgument
    );
}

#[test]
fn closed_handles() {
    let host = new_host(null());
    let counter = load(&host, "counter");
    let add = load(&host, "add");
    assert_eq!(sbx_module_close(counter.0), Status::Ok);
    assert_eq!(sbx_module_close(counter.0), Status::Ok, "idempotent");
    let (status, _, _) = call(&counter, "inc", &[]);
    assert_eq!(status, Status::HandleClosed);
    assert_eq!(sbx_module_interrupt(counter.0), Status::HandleClosed);
    let mut fuel = 1234u64;
    assert_eq!(
        sbx_module_last_call_fuel(counter.0, &mut fuel),
        Status::HandleClosed
    );
    assert_eq!(fuel, 1234);
    // Descriptions still work on a closed module.
    let mut count = 0usize;
    assert_eq!(sbx_module_function_count(counter.0, &mut count), Status::Ok);
    assert_eq!(count, 2);
    // Closing the host closes the rest; the handles must still be freed.
    let host_ptr = host.0;
    std::mem::forget(host);
    sbx_close(host_ptr);
    let (status, _, _) = call(&add, "add", &[1, 2]);
    assert_eq!(status, Status::HandleClosed);
}

#[test]
fn cancel_new_on_a_closed_host_is_refused() {
    // sbx_close frees the host handle, so a closed-but-live host is only
    // reachable through the Rust API; the C check is exercised via a clone.
    let host = new_host(null());
    let mut cancel: *mut sbx_cancel = null_mut();
    assert_eq!(sbx_cancel_new(host.0, &mut cancel), Status::Ok);
    assert!(!cancel.is_null());
    sbx_cancel_free(cancel);
}

#[test]
fn function_descriptions() {
    let host = new_host(null());
    let all = load(&host, "all_types");
    let mut count = 0usize;
    assert_eq!(sbx_module_function_count(all.0, &mut count), Status::Ok);
    assert_eq!(count, 10);
    assert_eq!(
        sbx_module_function_count(all.0, null_mut()),
        Status::InvalidArgument
    );
    let expected = all_types_signatures();
    for (index, (name, params, results)) in expected.iter().enumerate() {
        let mut info = std::mem::MaybeUninit::<sbx_function_info>::zeroed();
        assert_eq!(
            sbx_module_function_at(all.0, index, info.as_mut_ptr()),
            Status::Ok
        );
        let info = unsafe { info.assume_init() };
        let got_name = unsafe { std::slice::from_raw_parts(info.name.cast::<u8>(), info.name_len) };
        assert_eq!(got_name, name.as_bytes());
        assert_eq!(c_str(info.name), *name);
        let got_params = unsafe { std::slice::from_raw_parts(info.params, info.params_len) };
        let got_results = unsafe { std::slice::from_raw_parts(info.results, info.results_len) };
        assert_eq!(got_params, *params, "{name}");
        assert_eq!(got_results, *results, "{name}");
    }
    // Past the end: InvalidArgument, info untouched.
    let mut info = sbx_function_info {
        name: sentinel_const(),
        name_len: 7,
        params: null(),
        params_len: 7,
        results: null(),
        results_len: 7,
    };
    assert_eq!(
        sbx_module_function_at(all.0, count, &mut info),
        Status::InvalidArgument
    );
    assert_eq!(
        sbx_module_function_at(all.0, usize::MAX, &mut info),
        Status::InvalidArgument
    );
    assert_eq!((info.name, info.name_len), (sentinel_const(), 7));
    assert_eq!(
        sbx_module_function_at(all.0, 0, null_mut()),
        Status::InvalidArgument
    );
    assert_eq!(
        sbx_module_function_at(null(), 0, &mut info),
        Status::InvalidArgument
    );
}

fn all_types_signatures() -> Vec<(&'static str, &'static [u8], &'static [u8])> {
    vec![
        ("id_i32", &[0], &[0]),
        ("id_i64", &[1], &[1]),
        ("id_f32", &[2], &[2]),
        ("id_f64", &[3], &[3]),
        ("neg_f32", &[2], &[2]),
        ("add_f64", &[3, 3], &[3]),
        ("swap", &[0, 1], &[1, 0]),
        ("mix", &[0, 1, 2, 3], &[3]),
        ("v128_param", &[4], &[]),
        ("funcref_result", &[], &[5]),
    ]
}

#[test]
fn names_with_nul_bytes_keep_their_length() {
    // Export and module names may contain NUL; name/name_len describe the
    // exact bytes, so the name can be passed back to a call.
    let host = new_host(null());
    let wasm = common::wat(r#"(module (func (export "a\00b") (result i32) i32.const 7))"#);
    let module = try_load(&host, "x\0y", &wasm, 0).ok().unwrap();
    let mut info = std::mem::MaybeUninit::<sbx_function_info>::zeroed();
    assert_eq!(
        sbx_module_function_at(module.0, 0, info.as_mut_ptr()),
        Status::Ok
    );
    let info = unsafe { info.assume_init() };
    let name = unsafe { std::slice::from_raw_parts(info.name.cast::<u8>(), info.name_len) };
    let (status, results, _) = call_full(module.0, name, &[], 1, 0, null());
    assert_eq!((status, results), (Status::Ok, vec![7]), "name {name:?}");
    let mut module_name: *const std::ffi::c_char = null();
    let mut len = 0usize;
    assert_eq!(
        sbx_module_name(module.0, &mut module_name, &mut len),
        Status::Ok
    );
    let bytes = unsafe { std::slice::from_raw_parts(module_name.cast::<u8>(), len) };
    assert_eq!(bytes, b"x\0y");
}

#[test]
fn instance_limits_and_pooling_through_the_c_abi() {
    let config = ConfigBox::new();
    assert_eq!(sbx_config_set_max_modules(config.0, 2), Status::Ok);
    assert_eq!(sbx_config_set_pooling(config.0, true), Status::Ok);
    let host = new_host(config.0);
    let a = load(&host, "counter");
    let b = load(&host, "counter");
    let err = try_load(&host, "c", &fixture("counter"), 0).err().unwrap();
    assert_eq!(err.status(), Status::InstanceLimit);
    drop(a); // sbx_module_free closes and frees the slot
    let c = load(&host, "counter");
    let (status, results, _) = call(&c, "inc", &[]);
    assert_eq!((status, results), (Status::Ok, vec![1]));
    let (status, results, _) = call(&b, "get", &[]);
    assert_eq!((status, results), (Status::Ok, vec![0]));
}

#[test]
fn disk_cache_through_the_c_abi() {
    let dir = TempDir::new("capi-cache");
    let path = dir.path().to_str().unwrap();
    let config = ConfigBox::new();
    assert_eq!(
        sbx_config_set_cache_dir(config.0, path.as_ptr().cast(), path.len()),
        Status::Ok
    );
    let source = |m: &ModuleBox| {
        let mut source = sbx_cache_source::Memory;
        assert_eq!(sbx_module_cache_source(m.0, &mut source), Status::Ok);
        source
    };
    for first in [sbx_cache_source::Compiled, sbx_cache_source::Disk] {
        let host = new_host(config.0);
        let fib = load(&host, "fib");
        assert_eq!(source(&fib), first);
        let (status, results, _) = call(&fib, "fib", &[12]);
        assert_eq!((status, results), (Status::Ok, vec![144]));
        let again = load(&host, "fib");
        assert_eq!(sbx_module_close(again.0), Status::Ok);
        assert_eq!(source(&again), sbx_cache_source::Memory);
    }
    assert_eq!(
        sbx_module_cache_source(null(), &mut sbx_cache_source::Disk),
        Status::InvalidArgument
    );
    // One compiled module: its code and its checksum.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    // A cache dir that cannot be created is an IO error at host creation.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let bad = file.join("sub");
    let bad = bad.to_str().unwrap();
    assert_eq!(
        sbx_config_set_cache_dir(config.0, bad.as_ptr().cast(), bad.len()),
        Status::Ok
    );
    let mut host: *mut sbx_host = sentinel();
    let (status, _) = with_error(|e| sbx_host_new(config.0, &mut host, e));
    assert_eq!((status, host), (Status::Io, sentinel()));
}

#[test]
fn close_during_a_call_from_another_thread() {
    let host = new_host(null());
    let looping = std::sync::Arc::new(load(&host, "infinite_loop"));
    let runner = looping.clone();
    let worker = std::thread::spawn(move || {
        call_full(runner.0, b"loop", &[], 0, SBX_TIMEOUT_NONE, null()).0
    });
    std::thread::sleep(ms(100));
    assert_eq!(sbx_module_close(looping.0), Status::Ok);
    let status = worker.join().unwrap();
    assert_eq!(status, Status::HandleClosed);
}
