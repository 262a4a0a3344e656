//! Arbitrary bytes, and valid modules from wasm-smith, through
//! `sbx_load_module`; every export of what loads is called with arbitrary
//! params. Statuses stay documented, out-params untouched on failure.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sbx_fuzz::*;
use std::ptr::null;
use std::sync::LazyLock;

struct Hosts([*mut sbx_host; 2]);
// SAFETY: sbx hosts may be used from any thread.
unsafe impl Send for Hosts {}
unsafe impl Sync for Hosts {}

/// One host with fuel, one without: a deadline is all that stops the
/// second, so every call there has one.
static HOSTS: LazyLock<Hosts> = LazyLock::new(|| {
    let base = HostSettings {
        exec_timeout_ns: 50_000_000,
        load_timeout_ns: 5_000_000_000,
        memory_bytes: Some(64 << 20),
        ..Default::default()
    };
    Hosts([
        host_new(&HostSettings {
            fuel: 1_000_000,
            ..base.clone()
        }),
        host_new(&base),
    ])
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let host = HOSTS.0[(mode >> 1) as usize & 1];
    let mut u = Unstructured::new(rest);
    let wasm = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        match smith(&mut u) {
            Some(wasm) => wasm,
            None => return,
        }
    };
    let loaded = load(host, b"fuzz", &wasm, &Load::default());
    let module = match loaded {
        Ok(m) => m,
        Err(f) => {
            // wasm-smith modules are valid: only sbx's own limits refuse them.
            if mode & 1 == 1 {
                assert!(
                    !matches!(f.status, Status::InvalidArgument | Status::LinkError),
                    "a wasm-smith module refused: {f:?}"
                );
            }
            return;
        }
    };
    exercise(module, &mut u);
    module_free(module);
});

/// A valid module with features sbx enables and loops that end.
fn smith(u: &mut Unstructured) -> Option<Vec<u8>> {
    let mut config = wasm_smith::Config::arbitrary(u).ok()?;
    config.threads_enabled = false;
    config.shared_everything_threads_enabled = false;
    config.gc_enabled = false;
    config.exceptions_enabled = false;
    config.custom_page_sizes_enabled = false;
    config.wide_arithmetic_enabled = false;
    config.max_imports = 0;
    config.max_memories = config.max_memories.min(3);
    config.max_tables = config.max_tables.min(3);
    config.max_memory32_bytes = config.max_memory32_bytes.min(32 << 20);
    config.max_memory64_bytes = config.max_memory64_bytes.min(32 << 20);
    let mut module = wasm_smith::Module::new(config, u).ok()?;
    module.ensure_termination(10_000).ok()?;
    Some(module.to_bytes())
}

/// Calls every export with arbitrary params, counts, capacities and
/// timeouts, checking the statuses each case allows.
fn exercise(module: *mut sbx_module, u: &mut Unstructured) {
    let (_, funcs) = describe(module);
    for f in &funcs {
        let Ok(extra) = u.int_in_range(0..=3u8) else {
            return;
        };
        // 0: the right counts; 1: one param too many; 2: one too few; 3: a
        // result buffer one too small.
        let n_params = match extra {
            1 => f.params.len() + 1,
            2 => f.params.len().saturating_sub(1),
            _ => f.params.len(),
        };
        let cap = if extra == 3 {
            f.results.len().saturating_sub(1)
        } else {
            f.results.len() + u.int_in_range(0..=2usize).unwrap_or(0)
        };
        let params: Vec<u64> = (0..n_params).map(|_| u.arbitrary().unwrap_or(0)).collect();
        let timeout = u
            .int_in_range(1_000_000..=30_000_000u64)
            .unwrap_or(10_000_000);
        let wrong_shape = n_params != f.params.len() || cap < f.results.len() || !f.numeric();
        match call(module, &f.name, &params, cap, timeout, null()) {
            Ok(results) => {
                assert!(!wrong_shape, "a call of the wrong shape succeeded: {f:?}");
                assert_eq!(results.len(), f.results.len());
                for (v, t) in results.iter().zip(&f.results) {
                    if matches!(t, 0 | 2) {
                        assert_eq!(v >> 32, 0, "an i32/f32 result not zero-extended");
                    }
                }
            }
            Err(e) if wrong_shape => {
                assert_eq!(e.status, Status::SignatureMismatch, "{f:?}: {e:?}")
            }
            Err(e) => assert!(
                !matches!(
                    e.status,
                    Status::InvalidArgument
                        | Status::ExportNotFound
                        | Status::SignatureMismatch
                        | Status::HandleClosed
                ),
                "{f:?}: {e:?}"
            ),
        }
        let _ = last_call_fuel(module).expect("fuel of an open module");
    }
    if let Ok(size) = memory_size(module) {
        let offset = u.int_in_range(0..=size + 8).unwrap_or(0);
        let len = u.int_in_range(0..=64usize).unwrap_or(0);
        let fits = offset
            .checked_add(len as u64)
            .is_some_and(|end| end <= size);
        let read = memory_read(module, offset, len);
        assert_eq!(read.is_ok(), fits, "read {len} at {offset} of {size}");
        if let Ok(bytes) = read {
            assert_eq!(memory_write(module, offset, &bytes), Status::Ok);
        } else {
            assert_eq!(read, Err(Status::OutOfBounds));
        }
    }
}
