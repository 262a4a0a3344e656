//! A host's registry of its modules: the `max_modules` cap, and the list
//! that host close walks. A [`Slot`] is one module's place in it, taken
//! when its load starts (so that a host close also stops loads in flight)
//! and given back when the slot is dropped, so no path has to remember to.

use crate::error::{Error, Result, Status};
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
    /// Indexed by slot id; `None` for a free place.
    members: Vec<Option<Weak<dyn Member>>>,
    /// Free places in `members`, reused before it grows.
    free: Vec<usize>,
}

impl State {
    fn live(&self) -> usize {
        self.members.len() - self.free.len()
    }
}

/// One module's place in the registry, from its load to its drop.
pub(crate) struct Slot {
    registry: Arc<Registry>,
    id: usize,
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

    /// Fails as [`Registry::join`] would now, without joining: lets a
    /// load give up before paying for a compile.
    pub(crate) fn check_room(&self) -> Result<()> {
        self.room(&self.lock())
    }

    fn room(&self, state: &State) -> Result<()> {
        if state.closed {
            return Err(Error::closed("host"));
        }
        if state.live() >= self.max {
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

    /// Registers `member`, a module about to be instantiated, so that host
    /// close reaches it from now on. Fails with `InstanceLimit` at
    /// `max_modules`, `HandleClosed` after close.
    pub(crate) fn join(self: &Arc<Self>, member: Weak<dyn Member>) -> Result<Slot> {
        let mut state = self.lock();
        self.room(&state)?;
        let id = match state.free.pop() {
            Some(id) => {
                state.members[id] = Some(member);
                id
            }
            None => {
                state.members.push(Some(member));
                state.members.len() - 1
            }
        };
        Ok(Slot {
            registry: self.clone(),
            id,
        })
    }

    /// Marks the host closed and returns the members to close, which the
    /// caller closes after this lock is released (a member's close drops
    /// its slot, which takes this lock again).
    pub(crate) fn close(&self) -> Vec<Arc<dyn Member>> {
        let mut state = self.lock();
        state.closed = true;
        state
            .members
            .iter()
            .flatten()
            .filter_map(Weak::upgrade)
            .collect()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Modules loaded or loading, and not closed.
    pub(crate) fn live(&self) -> usize {
        self.lock().live()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.registry.lock();
        let member = state.members[self.id].take();
        state.free.push(self.id);
        drop(state);
        // After the lock: dropping the last reference may run the member's drop.
        drop(member);
    }
}
