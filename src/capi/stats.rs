//! `sbx_module_stats` and `sbx_host_stats`: counters read without a lock.
//!
//! Each struct starts with its `size`, so that it can grow without breaking
//! binaries: the caller sets `size` to `sizeof` the struct it was compiled
//! with, the library fills the fields that fit and writes back how many
//! bytes it filled. Fields past that keep what the caller put there.

use super::castable::handle;
use super::guarded_status;
use super::host::sbx_host;
use super::module::sbx_module;
use crate::{Error, HostStats, ModuleStats, Result};

/// What a module has done since it was loaded (`sbx_module_stats`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct sbx_module_counters {
    /// In: `sizeof(sbx_module_counters)` as the caller knows it. Out: the
    /// bytes the library filled.
    pub size: usize,
    /// Calls that ran guest code (calls refused before that do not count).
    pub calls: u64,
    /// Calls stopped by their deadline.
    pub timeouts: u64,
    /// Calls stopped by an interrupt, a cancel token or their module's close.
    pub interrupts: u64,
    /// Calls that used up their fuel.
    pub fuel_exhausted: u64,
    /// Calls that trapped.
    pub traps: u64,
    /// Calls a host function failed.
    pub host_errors: u64,
    /// Calls that ended in a non-zero WASI exit.
    pub exits: u64,
    /// Resets, by `sbx_module_reset` or a reset policy.
    pub resets: u64,
    /// Time spent in calls, in nanoseconds.
    pub call_time_ns: u64,
    /// Fuel consumed by calls, failed ones included; 0 without metering.
    pub fuel_consumed: u64,
    /// Bytes of linear memory now, all the module's memories together.
    pub memory_bytes: u64,
    /// The most `memory_bytes` has been.
    pub memory_peak_bytes: u64,
}

/// What a host holds now (`sbx_host_stats`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct sbx_host_counters {
    /// In: `sizeof(sbx_host_counters)` as the caller knows it. Out: the bytes
    /// the library filled.
    pub size: usize,
    /// Modules loaded or instantiated and not closed, and loads in flight.
    pub live_modules: u64,
    /// Compiled modules not yet freed.
    pub compiled_modules: u64,
    /// Instances in the pooling allocator; 0 without pooling.
    pub pooled_instances: u64,
    /// Linear-memory bytes of all the host's modules together.
    pub memory_bytes: u64,
    /// The most `memory_bytes` has been.
    pub memory_peak_bytes: u64,
    /// The host's memory budget (`sbx_config_set_host_memory_limit`); 0 for none.
    pub memory_limit_bytes: u64,
}

/// Copies the leading fields of `full` that fit in `*dst`'s declared size.
fn fill<T: Copy>(dst: *mut T, full: T, what: &str) -> Result<()> {
    if dst.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and every such struct starts with its `size`.
    let declared = unsafe { dst.cast::<usize>().read() };
    let min = 2 * std::mem::size_of::<usize>();
    if declared < min {
        return Err(Error::invalid(format!(
            "{what}->size is {declared}; set it to sizeof the struct"
        )));
    }
    let n = declared.min(std::mem::size_of::<T>());
    // SAFETY: the caller promises `declared` writable bytes at `dst`; `n` is
    // no more than that nor than `full`'s size.
    unsafe {
        std::ptr::copy_nonoverlapping((&full as *const T).cast::<u8>(), dst.cast::<u8>(), n);
        dst.cast::<usize>().write(n);
    }
    Ok(())
}

/// Fills `*stats_out` (see the size rule above) with the module's counters.
/// Lock-free: readable while a call runs, and after close.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL or a
/// `size` smaller than its first counter's end.
#[no_mangle]
pub extern "C" fn sbx_module_stats(
    module: *const sbx_module,
    stats_out: *mut sbx_module_counters,
) -> crate::Status {
    guarded_status(|| {
        let s: ModuleStats = handle(module)?.stats();
        let full = sbx_module_counters {
            size: std::mem::size_of::<sbx_module_counters>(),
            calls: s.calls,
            timeouts: s.timeouts,
            interrupts: s.interrupts,
            fuel_exhausted: s.fuel_exhausted,
            traps: s.traps,
            host_errors: s.host_errors,
            exits: s.exits,
            resets: s.resets,
            call_time_ns: s.call_time_ns,
            fuel_consumed: s.fuel_consumed,
            memory_bytes: s.memory_bytes,
            memory_peak_bytes: s.memory_peak_bytes,
        };
        fill(stats_out, full, "stats_out")
    })
}

/// Fills `*stats_out` (see the size rule above) with the host's counters.
/// Works after close. Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT
/// for NULL or a `size` smaller than its first counter's end.
#[no_mangle]
pub extern "C" fn sbx_host_stats(
    host: *const sbx_host,
    stats_out: *mut sbx_host_counters,
) -> crate::Status {
    guarded_status(|| {
        let s: HostStats = handle(host)?.stats();
        let full = sbx_host_counters {
            size: std::mem::size_of::<sbx_host_counters>(),
            live_modules: s.live_modules,
            compiled_modules: s.compiled_modules,
            pooled_instances: s.pooled_instances,
            memory_bytes: s.memory_bytes,
            memory_peak_bytes: s.memory_peak_bytes,
            memory_limit_bytes: s.memory_limit_bytes,
        };
        fill(stats_out, full, "stats_out")
    })
}
