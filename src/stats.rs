//! Counters for modules and hosts, read at any time without a lock.
//!
//! Only a module's running call (which holds the module's lock) writes its
//! call counters, so they are updated with a relaxed load and store rather
//! than a locked read-modify-write; readers may see a call half-counted,
//! never a torn value. Memory is counted by the store's limiter as it grows.

use crate::error::Status;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What a module has done since it was loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModuleStats {
    /// Calls that ran guest code (calls refused before that are not counted).
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
    /// Resets, explicit or by a reset policy.
    pub resets: u64,
    /// Time spent in calls, in nanoseconds.
    pub call_time_ns: u64,
    /// Fuel consumed by calls, failed ones included; 0 without metering.
    pub fuel_consumed: u64,
    /// Bytes of linear memory the module has now, all memories together.
    pub memory_bytes: u64,
    /// The most `memory_bytes` has been.
    pub memory_peak_bytes: u64,
}

impl ModuleStats {
    /// Calls that failed, of every kind.
    pub fn failures(&self) -> u64 {
        self.timeouts
            + self.interrupts
            + self.fuel_exhausted
            + self.traps
            + self.host_errors
            + self.exits
    }

    /// Adds `other`'s counts to these (memory included), for a sum over
    /// several modules.
    pub fn add(&mut self, other: &ModuleStats) {
        self.calls += other.calls;
        self.timeouts += other.timeouts;
        self.interrupts += other.interrupts;
        self.fuel_exhausted += other.fuel_exhausted;
        self.traps += other.traps;
        self.host_errors += other.host_errors;
        self.exits += other.exits;
        self.resets += other.resets;
        self.call_time_ns += other.call_time_ns;
        self.fuel_consumed += other.fuel_consumed;
        self.memory_bytes += other.memory_bytes;
        self.memory_peak_bytes += other.memory_peak_bytes;
    }
}

/// What a host holds now, and the most it has held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStats {
    /// Modules loaded (or instantiated) and not closed, and loads in flight.
    pub live_modules: u64,
    /// Compiled modules not yet closed or dropped.
    pub compiled_modules: u64,
    /// Instances the pooling allocator holds now; 0 on an on-demand host.
    pub pooled_instances: u64,
    /// Bytes of linear memory of all the host's modules together.
    pub memory_bytes: u64,
    /// The most `memory_bytes` has been.
    pub memory_peak_bytes: u64,
    /// The host's memory budget (`Limits::host_memory_bytes`); 0 for none.
    pub memory_limit_bytes: u64,
}

/// A counter only one thread at a time writes.
#[derive(Default)]
pub(crate) struct Count(AtomicU64);

impl Count {
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A module's call counters.
#[derive(Default)]
pub(crate) struct CallCounters {
    calls: Count,
    timeouts: Count,
    interrupts: Count,
    fuel_exhausted: Count,
    traps: Count,
    host_errors: Count,
    exits: Count,
    pub(crate) resets: Count,
    /// In [`crate::clock::ticks`].
    call_time_ns: Count,
    fuel_consumed: Count,
}

impl CallCounters {
    /// Counts a call that ran for `ns` ticks and used `fuel`, and
    /// its failure if it failed with `status`.
    #[inline]
    pub(crate) fn record(&self, ns: u64, fuel: u64, status: Option<Status>) {
        self.calls.add(1);
        self.call_time_ns.add(ns);
        if fuel != 0 {
            self.fuel_consumed.add(fuel);
        }
        let Some(status) = status else { return };
        let count = match status {
            Status::Timeout => &self.timeouts,
            Status::Interrupted => &self.interrupts,
            Status::FuelExhausted => &self.fuel_exhausted,
            Status::Trap => &self.traps,
            Status::HostError => &self.host_errors,
            Status::Exit => &self.exits,
            _ => return,
        };
        count.add(1);
    }

    pub(crate) fn read(&self, memory: &MemoryMeter) -> ModuleStats {
        ModuleStats {
            calls: self.calls.get(),
            timeouts: self.timeouts.get(),
            interrupts: self.interrupts.get(),
            fuel_exhausted: self.fuel_exhausted.get(),
            traps: self.traps.get(),
            host_errors: self.host_errors.get(),
            exits: self.exits.get(),
            resets: self.resets.get(),
            call_time_ns: crate::clock::ticks_to_ns(self.call_time_ns.get()),
            fuel_consumed: self.fuel_consumed.get(),
            memory_bytes: memory.current(),
            memory_peak_bytes: memory.peak(),
        }
    }
}

/// Bytes in use and the peak, shared by several writers (a module's
/// stores, or all of a host's modules).
#[derive(Default)]
pub(crate) struct MemoryMeter {
    current: AtomicU64,
    peak: AtomicU64,
}

impl MemoryMeter {
    pub(crate) fn grew(&self, bytes: u64) {
        let now = self.current.fetch_add(bytes, Relaxed) + bytes;
        self.peak.fetch_max(now, Relaxed);
    }

    pub(crate) fn shrank(&self, bytes: u64) {
        self.current.fetch_sub(bytes, Relaxed);
    }

    /// Adds `bytes` unless that would pass `limit`; returns whether it did.
    pub(crate) fn try_grow(&self, bytes: u64, limit: u64) -> bool {
        let granted = self
            .current
            .fetch_update(Relaxed, Relaxed, |used| {
                used.checked_add(bytes).filter(|total| *total <= limit)
            })
            .is_ok();
        if granted {
            self.peak.fetch_max(self.current(), Relaxed);
        }
        granted
    }

    pub(crate) fn current(&self) -> u64 {
        self.current.load(Relaxed)
    }

    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Relaxed)
    }
}
