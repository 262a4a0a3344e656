//! The limiter of one module's store. The memory limit bounds the sum of all
//! the module's linear memories and the table limit the sum of all its
//! tables' elements, however many of each it defines: Wasmtime's own
//! `StoreLimits` checks each one alone, so N memories got N times the limit.
//!
//! Wasmtime asks before every allocation: instantiation asks for each
//! memory's and table's initial size (from 0), `memory.grow`/`table.grow`
//! ask for the step. A refusal makes the grow return -1 in the guest, or
//! fails the instantiation. Nothing here allocates or locks; it runs only
//! when a memory or table changes size, never on a call.
//!
//! Memory is also charged to the module's meter (its stats, across resets)
//! and to the host's budget shared by all its modules; a store gives its
//! bytes back to both when it is dropped.

use crate::limits::{Limits, MAX_MEMORIES_PER_MODULE};
use crate::stats::MemoryMeter;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use wasmtime::ResourceLimiter;

/// The memory of all of a host's modules, against its budget, and how
/// many stores (each with at most one instance) hold it.
#[derive(Default)]
pub(crate) struct HostBudget {
    pub(crate) meter: MemoryMeter,
    /// `u64::MAX` for no budget.
    pub(crate) limit: u64,
    pub(crate) stores: AtomicU64,
}

impl HostBudget {
    pub(crate) fn new(limits: &Limits) -> HostBudget {
        HostBudget {
            limit: limits.host_memory_bytes.unwrap_or(u64::MAX),
            ..HostBudget::default()
        }
    }
}

/// One running total against its limit.
#[derive(Debug)]
struct Tally {
    used: u64,
    limit: u64,
}

impl Tally {
    /// Grows one memory or table from `current` to `desired` units if the
    /// total stays within the limit; returns the growth.
    fn grow(&mut self, current: usize, desired: usize) -> Result<u64, Refused> {
        let delta = (desired as u64).saturating_sub(current as u64);
        match self.used.checked_add(delta) {
            Some(total) if total <= self.limit => {
                self.used = total;
                Ok(delta)
            }
            _ => Err(Refused {
                need: self.used.saturating_add(delta),
                limit: self.limit,
            }),
        }
    }
}

/// A refused request: what the module would have needed in all.
#[derive(Clone, Copy, Debug)]
struct Refused {
    need: u64,
    limit: u64,
}

#[derive(Clone, Copy, Debug)]
enum Resource {
    Memory,
    HostMemory,
    Table,
}

/// The limiter in each module's `StoreData`.
pub(crate) struct ModuleLimiter {
    memory: Tally,
    module: Arc<MemoryMeter>,
    host: Arc<HostBudget>,
    tables: Tally,
    /// Bytes the last granted memory grow added, taken back if it then fails.
    memory_granted: u64,
    /// The last refusal, to explain a failed instantiation.
    refused: Option<(Resource, Refused)>,
}

impl ModuleLimiter {
    pub(crate) fn new(
        limits: &Limits,
        module: Arc<MemoryMeter>,
        host: Arc<HostBudget>,
    ) -> ModuleLimiter {
        host.stores.fetch_add(1, Relaxed);
        ModuleLimiter {
            memory: Tally {
                used: 0,
                limit: limits.memory_bytes,
            },
            module,
            host,
            tables: Tally {
                used: 0,
                limit: limits.table_elements,
            },
            memory_granted: 0,
            refused: None,
        }
    }

    fn grow_memory(&mut self, current: usize, desired: usize) -> bool {
        match self.memory.grow(current, desired) {
            Ok(delta) if !self.host.meter.try_grow(delta, self.host.limit) => {
                self.memory.used -= delta;
                self.refused = Some((
                    Resource::HostMemory,
                    Refused {
                        need: self.host.meter.current().saturating_add(delta),
                        limit: self.host.limit,
                    },
                ));
                false
            }
            Ok(delta) => {
                self.module.grew(delta);
                self.memory_granted = delta;
                true
            }
            Err(refused) => {
                self.refused = Some((Resource::Memory, refused));
                false
            }
        }
    }

    /// Why the last request was refused, if one was: for the error of an
    /// instantiation that failed on it.
    pub(crate) fn refusal(&self) -> Option<String> {
        self.refused.map(|(resource, r)| match resource {
            Resource::Memory => format!(
                "the module's memories need {} bytes in all; the memory limit is {} bytes",
                r.need, r.limit
            ),
            Resource::HostMemory => format!(
                "the host's modules would need {} bytes of memory in all; its memory budget is {} bytes",
                r.need, r.limit
            ),
            Resource::Table => format!(
                "the module's tables need {} elements in all; the table elements limit is {}",
                r.need, r.limit
            ),
        })
    }
}

impl ResourceLimiter for ModuleLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Past its own maximum the grow fails after we said yes; saying no
        // keeps the total exact without relying on the failure callback.
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        Ok(self.grow_memory(current, desired))
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // A granted grow the OS then refused. Wasmtime also calls this,
        // without asking first, for a size the memory type cannot express,
        // but only with custom page sizes, which the engine disables
        // (`Limits::configure_engine`); so the grant is this grow's.
        let granted = std::mem::take(&mut self.memory_granted);
        self.memory.used -= granted;
        self.module.shrank(granted);
        self.host.meter.shrank(granted);
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // As for memories. With that, Wasmtime never reports a failure
        // after a grant (`table_grow_failed` is only for an overflowing
        // request, which was never granted), so nothing needs taking back.
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        match self.tables.grow(current, desired) {
            Ok(_) => Ok(true),
            Err(refused) => {
                self.refused = Some((Resource::Table, refused));
                Ok(false)
            }
        }
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES_PER_MODULE as usize
    }
}

impl Drop for ModuleLimiter {
    fn drop(&mut self) {
        // The store and its memories are going away with this limiter.
        self.module.shrank(self.memory.used);
        self.host.meter.shrank(self.memory.used);
        self.host.stores.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 64 * 1024;

    fn limiter(memory_bytes: u64, table_elements: u64) -> ModuleLimiter {
        let limits = Limits {
            memory_bytes,
            table_elements,
            ..Limits::default()
        };
        let host = Arc::new(HostBudget::new(&limits));
        ModuleLimiter::new(&limits, Arc::default(), host)
    }

    #[test]
    fn the_host_budget_is_shared_and_given_back() {
        let limits = Limits {
            host_memory_bytes: Some(3 * PAGE as u64),
            ..Limits::default()
        };
        let host = Arc::new(HostBudget::new(&limits));
        let module = Arc::new(MemoryMeter::default());
        let mut a = ModuleLimiter::new(&limits, module.clone(), host.clone());
        let mut b = ModuleLimiter::new(&limits, Arc::default(), host.clone());
        assert!(a.memory_growing(0, 2 * PAGE, None).unwrap());
        assert!(!b.memory_growing(0, 2 * PAGE, None).unwrap());
        assert_eq!(
            b.refusal().unwrap(),
            format!(
                "the host's modules would need {} bytes of memory in all; its memory budget is {} bytes",
                4 * PAGE,
                3 * PAGE
            )
        );
        assert_eq!(b.memory.used, 0, "a refused grow is not counted");
        assert!(b.memory_growing(0, PAGE, None).unwrap());
        assert_eq!(host.meter.current(), 3 * PAGE as u64);
        assert_eq!(module.current(), 2 * PAGE as u64);
        drop(a);
        assert_eq!(host.meter.current(), PAGE as u64);
        assert_eq!(host.meter.peak(), 3 * PAGE as u64);
        assert_eq!((module.current(), module.peak()), (0, 2 * PAGE as u64));
        assert!(b.memory_growing(PAGE, 3 * PAGE, None).unwrap());
    }

    #[test]
    fn memories_share_one_limit() {
        let mut l = limiter(3 * PAGE as u64, 10);
        assert!(l.memory_growing(0, PAGE, None).unwrap());
        assert!(l.memory_growing(0, PAGE, None).unwrap());
        assert!(l.memory_growing(PAGE, 2 * PAGE, None).unwrap());
        assert!(!l.memory_growing(PAGE, 2 * PAGE, None).unwrap());
        assert_eq!(l.memory.used, 3 * PAGE as u64);
        assert_eq!(
            l.refusal().unwrap(),
            format!(
                "the module's memories need {} bytes in all; the memory limit is {} bytes",
                4 * PAGE,
                3 * PAGE
            )
        );
    }

    #[test]
    fn a_failed_grow_gives_its_bytes_back() {
        let mut l = limiter(2 * PAGE as u64, 10);
        assert!(l.memory_growing(0, PAGE, None).unwrap());
        assert!(l.memory_growing(PAGE, 2 * PAGE, None).unwrap());
        l.memory_grow_failed(wasmtime::Error::msg("mmap failed"))
            .unwrap();
        assert_eq!(l.memory.used, PAGE as u64);
        assert!(l.memory_growing(PAGE, 2 * PAGE, None).unwrap());
        assert_eq!(l.memory.used, 2 * PAGE as u64);
    }

    #[test]
    fn growing_past_the_own_maximum_is_refused_and_not_counted() {
        let mut l = limiter(4 * PAGE as u64, 10);
        assert!(l.memory_growing(0, PAGE, Some(PAGE)).unwrap());
        assert!(!l.memory_growing(PAGE, 2 * PAGE, Some(PAGE)).unwrap());
        assert_eq!(l.memory.used, PAGE as u64);
        assert!(!l.table_growing(2, 3, Some(2)).unwrap());
        assert_eq!(l.tables.used, 0);
    }

    #[test]
    fn tables_share_one_limit() {
        let mut l = limiter(PAGE as u64, 10);
        assert!(l.table_growing(0, 4, None).unwrap());
        assert!(l.table_growing(0, 6, None).unwrap());
        assert!(!l.table_growing(6, 7, None).unwrap());
        assert!(l.table_growing(4, 4, None).unwrap());
        assert_eq!(l.tables.used, 10);
        assert_eq!(
            l.refusal().unwrap(),
            "the module's tables need 11 elements in all; the table elements limit is 10"
        );
    }

    #[test]
    fn a_limit_between_pages_allows_the_whole_pages_below_it() {
        let mut l = limiter(100 * 1024, 10);
        assert!(l.memory_growing(0, PAGE, None).unwrap());
        assert!(!l.memory_growing(PAGE, 2 * PAGE, None).unwrap());
    }

    #[test]
    fn requests_that_overflow_are_refused() {
        let mut l = limiter(PAGE as u64, u32::MAX as u64);
        assert!(!l.memory_growing(0, usize::MAX, None).unwrap());
        assert!(l.table_growing(0, u32::MAX as usize, None).unwrap());
        assert!(!l.table_growing(0, usize::MAX, None).unwrap());
        assert_eq!(l.tables.used, u32::MAX as u64);
    }
}
