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
use std::sync::Arc;

/// The memory of all of a host's modules, against its budget.
#[derive(Default)]
pub(crate) struct HostBudget {
    pub(crate) meter: MemoryMeter,
    /// `u64::MAX` for no budget.
    pub(crate) limit: u64,
}

impl HostBudget {
    pub(crate) fn new(limits: &Limits) -> HostBudget {
        HostBudget {
            limit: limits.host_memory_bytes.unwrap_or(u64::MAX),
            ..HostBudget::default()
        }
    }
}

/// Where one module's stores charge their memory: the module's own meter,
/// which its stats read across resets, and its host's budget.
pub(crate) struct MemoryAccounts {
    pub(crate) module: MemoryMeter,
    host: Arc<HostBudget>,
}

impl MemoryAccounts {
    pub(crate) fn new(host: Arc<HostBudget>) -> MemoryAccounts {
        MemoryAccounts {
            module: MemoryMeter::default(),
            host,
        }
    }

    fn give_back(&self, bytes: u64) {
        // Most stores of a module without memory end here with nothing:
        // no atomic writes for them on the instantiate path.
        if bytes > 0 {
            self.module.shrank(bytes);
            self.host.meter.shrank(bytes);
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

/// The limiter in each module's `StoreData`, which answers Wasmtime's
/// `ResourceLimiter` questions with it and the module's [`MemoryAccounts`]
/// (kept with the module's other shared state, so a store takes one
/// reference for all of it).
pub(crate) struct ModuleLimiter {
    memory: Tally,
    tables: Tally,
    /// Bytes the last granted memory grow added, taken back if it then fails.
    memory_granted: u64,
    /// The last refusal, to explain a failed instantiation.
    refused: Option<(Resource, Refused)>,
}

impl ModuleLimiter {
    pub(crate) fn new(limits: &Limits) -> ModuleLimiter {
        ModuleLimiter {
            memory: Tally {
                used: 0,
                limit: limits.memory_bytes,
            },
            tables: Tally {
                used: 0,
                limit: limits.table_elements,
            },
            memory_granted: 0,
            refused: None,
        }
    }

    fn grow_memory(&mut self, accounts: &MemoryAccounts, current: usize, desired: usize) -> bool {
        let host = &*accounts.host;
        match self.memory.grow(current, desired) {
            Ok(delta) if !host.meter.try_grow(delta, host.limit) => {
                self.memory.used -= delta;
                self.refused = Some((
                    Resource::HostMemory,
                    Refused {
                        need: host.meter.current().saturating_add(delta),
                        limit: host.limit,
                    },
                ));
                false
            }
            Ok(delta) => {
                accounts.module.grew(delta);
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

/// Wasmtime's `ResourceLimiter`, given the module's accounts.
impl ModuleLimiter {
    pub(crate) fn memory_growing(
        &mut self,
        accounts: &MemoryAccounts,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> bool {
        // Past its own maximum the grow fails after we said yes; saying no
        // keeps the total exact without relying on the failure callback.
        if maximum.is_some_and(|max| desired > max) {
            return false;
        }
        self.grow_memory(accounts, current, desired)
    }

    pub(crate) fn memory_grow_failed(&mut self, accounts: &MemoryAccounts) {
        // A granted grow the OS then refused. Wasmtime also calls this,
        // without asking first, for a size the memory type cannot express,
        // but only with custom page sizes, which the engine disables
        // (`Limits::configure_engine`); so the grant is this grow's.
        let granted = std::mem::take(&mut self.memory_granted);
        self.memory.used -= granted;
        accounts.give_back(granted);
    }

    pub(crate) fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> bool {
        // As for memories. With that, Wasmtime never reports a failure
        // after a grant (`table_grow_failed` is only for an overflowing
        // request, which was never granted), so nothing needs taking back.
        if maximum.is_some_and(|max| desired > max) {
            return false;
        }
        match self.tables.grow(current, desired) {
            Ok(_) => true,
            Err(refused) => {
                self.refused = Some((Resource::Table, refused));
                false
            }
        }
    }

    /// How many memories a store may make; the limit is on their sum.
    pub(crate) const MEMORIES: usize = MAX_MEMORIES_PER_MODULE as usize;

    /// Gives the store's memory back: call as the store goes away.
    pub(crate) fn release(&mut self, accounts: &MemoryAccounts) {
        accounts.give_back(std::mem::take(&mut self.memory.used));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::Watch;
    use crate::store::{ModuleShared, StoreData};
    use wasmtime::ResourceLimiter;

    const PAGE: usize = 64 * 1024;

    /// A store's data: the limiter as Wasmtime drives it, through the
    /// delegation in `StoreData`, with the accounts of a module over `host`.
    fn store_data(limits: &Limits, host: &Arc<HostBudget>) -> StoreData {
        let shared = Arc::new(ModuleShared {
            watch: Watch::new(),
            memory: MemoryAccounts::new(host.clone()),
        });
        StoreData::new(ModuleLimiter::new(limits), shared, None, 0)
    }

    fn limiter(memory_bytes: u64, table_elements: u64) -> StoreData {
        let limits = Limits {
            memory_bytes,
            table_elements,
            ..Limits::default()
        };
        store_data(&limits, &Arc::new(HostBudget::new(&limits)))
    }

    #[test]
    fn the_host_budget_is_shared_and_given_back() {
        let limits = Limits {
            host_memory_bytes: Some(3 * PAGE as u64),
            ..Limits::default()
        };
        let host = Arc::new(HostBudget::new(&limits));
        let mut a = store_data(&limits, &host);
        let mut b = store_data(&limits, &host);
        let shared = a.shared.clone();
        assert!(a.memory_growing(0, 2 * PAGE, None).unwrap());
        assert!(!b.memory_growing(0, 2 * PAGE, None).unwrap());
        assert_eq!(
            b.limiter.refusal().unwrap(),
            format!(
                "the host's modules would need {} bytes of memory in all; its memory budget is {} bytes",
                4 * PAGE,
                3 * PAGE
            )
        );
        assert_eq!(b.limiter.memory.used, 0, "a refused grow is not counted");
        assert!(b.memory_growing(0, PAGE, None).unwrap());
        assert_eq!(host.meter.current(), 3 * PAGE as u64);
        assert_eq!(shared.memory.module.current(), 2 * PAGE as u64);
        drop(a);
        assert_eq!(host.meter.current(), PAGE as u64);
        assert_eq!(host.meter.peak(), 3 * PAGE as u64);
        let module = &shared.memory.module;
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
        assert_eq!(l.limiter.memory.used, 3 * PAGE as u64);
        assert_eq!(
            l.limiter.refusal().unwrap(),
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
        assert_eq!(l.limiter.memory.used, PAGE as u64);
        assert!(l.memory_growing(PAGE, 2 * PAGE, None).unwrap());
        assert_eq!(l.limiter.memory.used, 2 * PAGE as u64);
    }

    #[test]
    fn growing_past_the_own_maximum_is_refused_and_not_counted() {
        let mut l = limiter(4 * PAGE as u64, 10);
        assert!(l.memory_growing(0, PAGE, Some(PAGE)).unwrap());
        assert!(!l.memory_growing(PAGE, 2 * PAGE, Some(PAGE)).unwrap());
        assert_eq!(l.limiter.memory.used, PAGE as u64);
        assert!(!l.table_growing(2, 3, Some(2)).unwrap());
        assert_eq!(l.limiter.tables.used, 0);
    }

    #[test]
    fn tables_share_one_limit() {
        let mut l = limiter(PAGE as u64, 10);
        assert!(l.table_growing(0, 4, None).unwrap());
        assert!(l.table_growing(0, 6, None).unwrap());
        assert!(!l.table_growing(6, 7, None).unwrap());
        assert!(l.table_growing(4, 4, None).unwrap());
        assert_eq!(l.limiter.tables.used, 10);
        assert_eq!(
            l.limiter.refusal().unwrap(),
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
        assert_eq!(l.limiter.tables.used, u32::MAX as u64);
    }
}
