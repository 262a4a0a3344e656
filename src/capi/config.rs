//! `sbx_config`: the settings of a host, built with setters so that new
//! settings never change the layout of anything a caller compiled against.

use super::castable::{from_handle, handle, handle_mut, into_handle, optional_handle, Castable};
use super::wasi_config::{self, sbx_wasi_config};
use super::{guarded, guarded_status, guarded_value, optional_duration, sbx_error, text};
use crate::HostConfig;
use crate::Result;
use crate::Status;
use std::ffi::c_char;
use std::path::PathBuf;

/// Host settings. Created by `sbx_config_new`, owned by the caller, freed
/// with `sbx_config_free`; `sbx_host_new` copies it, so it may be freed or
/// reused right after. Not safe to modify from several threads at once.
pub struct sbx_config {
    _private: [u8; 0],
}

impl Castable for sbx_config {
    type RustType = HostConfig;
    const WHAT: &'static str = "config";
}

/// A new config holding the sandboxing defaults: 256 MiB of memory per module,
/// 10,000 table elements, a 512 KiB wasm stack, 1,000 modules per host, no
/// timeouts, 2 abandoned compiles, fuel off, on-demand allocation, no disk
/// cache. Owned by the
/// caller; free with `sbx_config_free`. Returns NULL only if allocation panics.
#[no_mangle]
pub extern "C" fn sbx_config_new() -> *mut sbx_config {
    guarded_value(std::ptr::null_mut(), || into_handle(HostConfig::default()))
}

/// Frees a config. NULL is a no-op.
#[no_mangle]
pub extern "C" fn sbx_config_free(config: *mut sbx_config) {
    guarded_value((), || {
        // SAFETY: NULL or a config from `sbx_config_new`, not used again.
        drop(unsafe { from_handle(config) });
    })
}

/// Applies one change to a config. Ranges are not checked here but by
/// `validate`, which can say what is wrong (a setter is status-only).
fn update(config: *mut sbx_config, change: impl FnOnce(&mut HostConfig) -> Result<()>) -> Status {
    guarded_status(|| change(handle_mut(config)?))
}

/// The default deadline of each call, in nanoseconds; 0 (the default) means
/// none. A call can override it.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a
/// NULL config.
#[no_mangle]
pub extern "C" fn sbx_config_set_exec_timeout_ns(
    config: *mut sbx_config,
    timeout_ns: u64,
) -> Status {
    update(config, |c| {
        c.limits.exec_timeout = optional_duration(timeout_ns);
        Ok(())
    })
}

/// The default deadline of each load (compile plus start function), in
/// nanoseconds; 0 (the default) means none. A load can override it. A
/// compile cut short keeps running in the background; see
/// `sbx_config_set_max_abandoned_compiles`.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a
/// NULL config.
#[no_mangle]
pub extern "C" fn sbx_config_set_load_timeout_ns(
    config: *mut sbx_config,
    timeout_ns: u64,
) -> Status {
    update(config, |c| {
        c.limits.load_timeout = optional_duration(timeout_ns);
        Ok(())
    })
}

/// Linear memory per module, in bytes, 64 KiB to 4 GiB (default 256 MiB):
/// the sum of all the module's memories, 32- and 64-bit. `memory.grow` past
/// it returns -1 inside the guest; a module whose initial memories together
/// are larger fails to load with SBX_STATUS_RESOURCE_LIMIT. Memory comes in
/// 64 KiB pages, so a limit that is not a multiple of 64 KiB allows the whole
/// pages below it: 100 KiB allows one page, not two.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a
/// NULL config; `sbx_config_validate` (and `sbx_host_new`) check the range.
#[no_mangle]
pub extern "C" fn sbx_config_set_memory_limit(config: *mut sbx_config, bytes: u64) -> Status {
    update(config, |c| {
        c.limits.memory_bytes = bytes;
        Ok(())
    })
}

/// Linear memory of all the host's modules together, in bytes, at least
/// 64 KiB; 0 (the default) for no host-wide budget. Counted as memories
/// grow, pooled or not: `memory.grow` past it returns -1 inside the guest,
/// and a load, instantiation or reset that would pass it fails with
/// SBX_STATUS_RESOURCE_LIMIT naming the budget. The per-module limit still
/// applies. Closing a module gives its bytes back. A budget below 64 KiB
/// is refused by `sbx_config_validate` and `sbx_host_new`.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a
/// NULL config.
#[no_mangle]
pub extern "C" fn sbx_config_set_host_memory_limit(config: *mut sbx_config, bytes: u64) -> Status {
    update(config, |c| {
        c.limits.host_memory_bytes = (bytes != 0).then_some(bytes);
        Ok(())
    })
}

/// Table elements per module, 1 to 2^32-1 (default 10,000): the sum over
/// all the module's tables. `table.grow` past it returns -1 inside the
/// guest; a module whose initial tables together are larger fails to load
/// with SBX_STATUS_RESOURCE_LIMIT.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a
/// NULL config; `sbx_config_validate` (and `sbx_host_new`) check the range.
#[no_mangle]
pub extern "C" fn sbx_config_set_table_elements_limit(
    config: *mut sbx_config,
    elements: u64,
) -> Status {
    update(config, |c| {
        c.limits.table_elements = elements;
        Ok(())
    })
}

/// Native stack that wasm may use, in bytes, 16 KiB to 4 MiB (default
/// 512 KiB); deeper recursion traps with SBX_TRAP_CODE_STACK_OVERFLOW. The
/// calling thread needs this much stack plus about 256 KiB.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a
/// NULL config; `sbx_config_validate` (and `sbx_host_new`) check the range.
#[no_mangle]
pub extern "C" fn sbx_config_set_max_wasm_stack(config: *mut sbx_config, bytes: u64) -> Status {
    update(config, |c| {
        c.limits.max_wasm_stack = bytes;
        Ok(())
    })
}

/// Modules loaded at once per host, at least 1 (default 1,000); with pooling,
/// the pool's slot count, at most 4,096. A load past it fails with
/// SBX_STATUS_INSTANCE_LIMIT; closing a module frees its slot.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a
/// NULL config; `sbx_config_validate` (and `sbx_host_new`) check the range.
#[no_mangle]
pub extern "C" fn sbx_config_set_max_modules(config: *mut sbx_config, modules: u32) -> Status {
    update(config, |c| {
        c.limits.max_modules = modules;
        Ok(())
    })
}

/// Compiles that may keep running after their load gave up on them, at
/// least 1 (default 2). Compiling cannot be stopped, so a load that times
/// out, is cancelled or sees its host close while compiling returns at once
/// and leaves the compile to finish on its own thread, then discards it
/// (it is never cached). While this many such compiles run, a load that
/// needs a compile (not one found in the cache) fails with
/// SBX_STATUS_INSTANCE_LIMIT, whose message names this setting; retry later.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a
/// NULL config; `sbx_config_validate` (and `sbx_host_new`) refuse 0.
#[no_mangle]
pub extern "C" fn sbx_config_set_max_abandoned_compiles(
    config: *mut sbx_config,
    compiles: u32,
) -> Status {
    update(config, |c| {
        c.limits.max_abandoned_compiles = compiles;
        Ok(())
    })
}

/// Fuel per call (and per start function); 0 (the default) turns metering
/// off. Each call starts with this budget; running out fails the call with
/// SBX_STATUS_FUEL_EXHAUSTED. Roughly one unit per wasm instruction.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a
/// NULL config.
#[no_mangle]
pub extern "C" fn sbx_config_set_fuel(config: *mut sbx_config, fuel_per_call: u64) -> Status {
    update(config, |c| {
        c.limits.fuel = (fuel_per_call != 0).then_some(fuel_per_call);
        Ok(())
    })
}

/// Whether to use Wasmtime's pooling allocator (default false). A pool
/// reserves, up front, max_modules x (4 GiB + 32 MiB) of address space (not
/// memory) and makes instantiation several times faster. Each slot holds one
/// memory and one table: a module that defines more fails to load with
/// SBX_STATUS_RESOURCE_LIMIT.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a
/// NULL config; `sbx_config_validate` (and `sbx_host_new`) refuse pooling
/// with max_modules above the pool's 4,096 slots.
#[no_mangle]
pub extern "C" fn sbx_config_set_pooling(config: *mut sbx_config, enabled: bool) -> Status {
    update(config, |c| {
        c.limits.pooling = enabled;
        Ok(())
    })
}

/// A directory for the on-disk compiled-module cache, as `path_len` bytes of
/// UTF-8 (not NUL-terminated); NULL with length 0 turns it off (the default).
/// It is created by `sbx_host_new`. The path is copied.
///
/// The directory must be writable only by the embedder's user: its files
/// are run as machine code, and sbx does not defend against anyone who can
/// write to it (a shared or world-writable directory lets any local user
/// run code in every process using it). sbx reads only regular files there,
/// never following a symlink and never blocking: anything else in a cache
/// file's place (a FIFO, a directory, a device) is a miss and the module is
/// compiled afresh.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a
/// NULL config, a NULL path with a non-zero length, or a path that is not
/// UTF-8.
#[no_mangle]
pub extern "C" fn sbx_config_set_cache_dir(
    config: *mut sbx_config,
    path: *const c_char,
    path_len: usize,
) -> Status {
    update(config, |c| {
        let path = text(path, path_len, "cache dir")?;
        c.cache_dir = (!path.is_empty()).then(|| PathBuf::from(path));
        Ok(())
    })
}

/// Enables WASI for every module of the host with a copy of `wasi` (NULL
/// disables it, the default). Without it, a module that imports WASI fails
/// to load with SBX_STATUS_LINK_ERROR, unless its load options give one.
/// The copy is checked as `sbx_wasi_config_validate` checks it by
/// `sbx_config_validate` and `sbx_host_new`.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a
/// NULL config.
#[no_mangle]
pub extern "C" fn sbx_config_set_wasi(
    config: *mut sbx_config,
    wasi: *const sbx_wasi_config,
) -> Status {
    update(config, |c| {
        c.wasi = wasi_config::read(wasi)?;
        Ok(())
    })
}

/// Checks the whole config as `sbx_host_new` will: every limit in its range
/// (as each setter's comment gives it), pooling with at most 4,096 modules,
/// and the WASI config as `sbx_wasi_config_validate` checks it. Returns
/// SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL or the first bad
/// setting, with a message naming it and its range in `*error_out` (may be
/// NULL; the caller frees it with `sbx_error_free`).
#[no_mangle]
pub extern "C" fn sbx_config_validate(
    config: *const sbx_config,
    error_out: *mut *mut sbx_error,
) -> Status {
    guarded(error_out, || validate(handle(config)?))
}

/// The check of `sbx_config_validate`.
pub(crate) fn validate(config: &HostConfig) -> Result<()> {
    config.limits.validate()?;
    config.wasi.as_ref().map_or(Ok(()), wasi_config::validate)
}

/// A copy of `config`, or the defaults for NULL.
pub(crate) fn read(config: *const sbx_config) -> Result<HostConfig> {
    Ok(optional_handle(config)?.cloned().unwrap_or_default())
}
