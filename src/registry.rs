//! A host's registry of its modules: the `max_modules` cap, and the list
//! that host close walks. A [`Slot`] is one module's place in it; dropping
//! the slot gives the place back, so no path has to remember to.

use crate::error::{Error, Result, Status};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// What the registry can do to a member when the host closes.
pub(crate) trait Member: Send + Sync {
    fn close(&self);
}

pub(crate) struct Registry {
    max: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    closed: bool,
    /// Slots reserved by loads that have not registered their module yet.
    pending: usize,
    next_id: u64,
    live: HashMap<u64, Weak<dyn Member>>,
}

/// One module's place in the registry, from reservation to drop.
pub(crate) struct Slot {
    registry: Arc<Registry>,
    id: u64,
    registered: bool,
}

impl Registry {
    pub(crate) fn new(max_modules: u32) -> Registry {
        Registry {
            max: max_modules as usize,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails as [`Registry::reserve`] would now, without reserving: lets a
    /// load give up before paying for a compile.
    pub(crate) fn check_room(&self) -> Result<()> {
        self.room(&self.lock())
    }

    fn room(&self, state: &State) -> Result<()> {
        if state.closed {
            return Err(Error::closed("host"));
        }
        if state.live.len() + state.pending >= self.max {
            return Err(Error::new(
                Status::InstanceLimit,
                format!(
                    "host already has {} modules loaded (its max_modules)",
                    self.max
                ),
            ));
        }
        Ok(())
    }

    /// Reserves a place for a module about to be instantiated. Fails with
    /// `InstanceLimit` at `max_modules`, `HandleClosed` after close.
    pub(crate) fn reserve(self: &Arc<Self>) -> Result<Slot> {
        let mut state = self.lock();
        self.room(&state)?;
        state.pending += 1;
        state.next_id += 1;
        Ok(Slot {
            registry: self.clone(),
            id: state.next_id,
            registered: false,
        })
    }

    /// Marks the host closed and returns the members to close, which the
    /// caller closes after this lock is released (a member's close drops
    /// its slot, which takes this lock again).
    pub(crate) fn close(&self) -> Vec<Arc<dyn Member>> {
        let mut state = self.lock();
        state.closed = true;
        state.live.values().filter_map(Weak::upgrade).collect()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Modules registered and not yet closed.
    pub(crate) fn live(&self) -> usize {
        self.lock().live.len()
    }
}

impl Slot {
    /// Registers the module holding this slot, so host close reaches it.
    /// Fails with `HandleClosed` if the host closed meanwhile.
    pub(crate) fn register(&mut self, member: Weak<dyn Member>) -> Result<()> {
        let mut state = self.registry.lock();
        if state.closed {
            return Err(Error::closed("host"));
        }
        state.pending -= 1;
        state.live.insert(self.id, member);
        self.registered = true;
        Ok(())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.registry.lock();
        if self.registered {
            state.live.remove(&self.id);
        } else {
            state.pending -= 1;
        }
    }
}
