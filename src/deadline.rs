//! Deadlines and interrupts: one process-wide timer thread that bumps a
//! host's epoch only when a deadline is due, per-store call state that the
//! epoch callback reads, and cancel tokens.
//!
//! Every store runs with an epoch deadline of "the next tick". Anything that
//! wants a running guest to look up (a due deadline, an interrupt, a cancel)
//! bumps the engine's epoch; the guest then runs the callback installed by
//! [`install_callback`], which decides from the store's own state whether
//! *this* call must stop. Calls that are not targeted just re-arm.
//!
//! A call blocked in the host instead (a WASI sleep) never sees an epoch
//! bump: it waits in [`Watched::sleep_until`], which interrupts and cancel
//! tokens wake as well, and which never sleeps past the call's deadline.

pub(crate) use crate::clock::now_ns;
use crate::error::{Error, Result, Status, Stopped};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{
    fence, AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
    Ordering::SeqCst,
};
use std::sync::{Arc, Condvar, LazyLock, Mutex, Weak};
use std::time::Duration;
use wasmtime::{Engine, EngineWeak, UpdateDeadline};

fn current_thread() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

/// Shared between a store, the timer thread and interrupters.
pub(crate) struct Watch {
    /// Deadline of the call in flight, in [`now_ns`] time; 0 for none.
    deadline_ns: AtomicU64,
    /// When the timer thread will next look at this watch; 0 when it won't.
    armed_ns: AtomicU64,
    /// Sequence number of the call in flight; 0 when idle.
    running: AtomicU64,
    /// The thread running that call, to refuse re-entry from its host functions.
    thread: AtomicU64,
    /// The call that [`Watch::interrupt`] targeted.
    interrupted: AtomicU64,
    /// Wakes a call sleeping in [`Watched::sleep_until`]; a waker takes the
    /// lock after setting its flag, so the sleeper cannot miss it.
    sleep: Mutex<()>,
    wake: Condvar,
}

impl Watch {
    pub(crate) fn new() -> Watch {
        Watch {
            deadline_ns: AtomicU64::new(0),
            armed_ns: AtomicU64::new(0),
            running: AtomicU64::new(0),
            thread: AtomicU64::new(0),
            interrupted: AtomicU64::new(0),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    /// Nanoseconds left before the deadline of the call in flight: `None`
    /// without one, 0 once it has passed.
    pub(crate) fn time_left_ns(&self) -> Option<u64> {
        match self.deadline_ns.load(Relaxed) {
            0 => None,
            deadline => Some(deadline.saturating_sub(now_ns())),
        }
    }

    /// Marks the call in flight as finished. A timer or interrupter that
    /// still sees the old values only causes a spare epoch bump.
    pub(crate) fn end(&self) {
        self.deadline_ns.store(0, Release);
        self.running.store(0, Release);
    }

    /// Whether the calling thread is inside this store's call right now
    /// (that is, in one of its host functions): locking the store again
    /// would deadlock.
    pub(crate) fn is_reentry(&self) -> bool {
        self.running.load(Acquire) != 0 && self.thread.load(Relaxed) == current_thread()
    }

    /// Stops the call in flight, if there is one, in a store of `engine`;
    /// later calls are unaffected. Returns whether a call was in flight.
    pub(crate) fn interrupt(&self, engine: &Engine) -> bool {
        let seq = self.running.load(SeqCst);
        if seq == 0 {
            return false;
        }
        self.interrupted.store(seq, SeqCst);
        engine.increment_epoch();
        TIMER.bump_again(engine);
        self.wake_sleeper();
        true
    }

    /// Wakes the call sleeping in [`Watched::sleep_until`], if any, to look
    /// at its flags again. Not on the call path: only interrupts, cancels
    /// and closes come here.
    fn wake_sleeper(&self) {
        drop(self.sleep.lock().unwrap_or_else(|p| p.into_inner()));
        self.wake.notify_all();
    }

    /// Decides, from inside the guest, whether call `seq` must stop now.
    fn verdict(&self, seq: u64, cancel: Option<&Cancel>) -> Option<Stopped> {
        if self.interrupted.load(SeqCst) == seq || cancel.is_some_and(Cancel::is_triggered) {
            return Some(Stopped::Interrupted);
        }
        let deadline = self.deadline_ns.load(SeqCst);
        if deadline != 0 && now_ns() >= deadline {
            return Some(Stopped::Timeout);
        }
        None
    }
}

/// What holds a [`Watch`] in its own allocation (a module's state shared
/// with its stores): the timer keeps it weakly, and a cancel trigger wakes
/// a sleeping call through it.
pub(crate) trait Watched: Send + Sync + 'static {
    fn watch(&self) -> &Watch;

    /// Marks call `seq`, in a store of `engine`, as in flight, with an
    /// optional deadline.
    ///
    /// One full fence orders these stores before the loads that follow, here
    /// and in the caller (`closed`): the timer clears `armed_ns` before it
    /// reads the deadline, and `close` sets `closed` before it reads
    /// `running`, so each pair always sees at least one side of the other
    /// (at worst both act: one spare wake-up or interrupt).
    ///
    /// Fails, with nothing left in flight, only if the deadline thread is
    /// needed and cannot be started.
    fn begin(self: &Arc<Self>, engine: &Engine, seq: u64, deadline_ns: Option<u64>) -> Result<()>
    where
        Self: Sized,
    {
        let watch = self.watch();
        // The thread first: `is_reentry` on another thread that sees this
        // call running must also see whose it is, not the previous caller.
        watch.thread.store(current_thread(), Relaxed);
        watch.running.store(seq, Release);
        watch.deadline_ns.store(deadline_ns.unwrap_or(0), Relaxed);
        fence(SeqCst);
        if let Some(deadline) = deadline_ns {
            let armed = watch.armed_ns.load(Relaxed);
            if armed == 0 || armed > deadline {
                if let Err(e) = TIMER.arm(self, engine, deadline) {
                    watch.end();
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// [`Watched::begin`], returning a guard that calls [`Watch::end`] when
    /// dropped, so that a panic (from a host function) unwinding out of the
    /// call cannot leave it marked in flight with its deadline armed.
    fn begin_guard(
        self: &Arc<Self>,
        engine: &Engine,
        seq: u64,
        deadline_ns: Option<u64>,
    ) -> Result<InFlight<'_>>
    where
        Self: Sized,
    {
        self.begin(engine, seq, deadline_ns)?;
        Ok(InFlight(self.watch()))
    }

    /// Blocks call `seq`, from one of its host functions, until `until_ns`
    /// ([`now_ns`] time). Returns early with the reason the call must stop,
    /// exactly as the epoch callback would for guest code: the call's
    /// deadline (never slept past), an interrupt or close, or `cancel`.
    fn sleep_until(
        self: &Arc<Self>,
        seq: u64,
        cancel: Option<&Cancel>,
        until_ns: u64,
    ) -> Result<(), Stopped>
    where
        Self: Sized,
    {
        let watch = self.watch();
        let _listening = cancel.map(|c| c.wake_on_trigger(self.clone()));
        let _precise = PreciseWakeups::new();
        let mut guard = watch.sleep.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(stopped) = watch.verdict(seq, cancel) {
                return Err(stopped);
            }
            let now = now_ns();
            if now >= until_ns {
                return Ok(());
            }
            let wake_at = match watch.deadline_ns.load(SeqCst) {
                0 => until_ns,
                deadline => until_ns.min(deadline),
            };
            let nap = Duration::from_nanos(wake_at.saturating_sub(now));
            guard = watch
                .wake
                .wait_timeout(guard, nap)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Lowers the calling thread's timer slack (by default Linux may wake a
/// sleeping thread up to 50 us late) while it lives, so that a sleeping
/// guest stops as close to its deadline as a looping one; restores it after.
/// Elsewhere there is no per-thread slack to lower, and it does nothing.
#[cfg(any(target_os = "linux", target_os = "android"))]
struct PreciseWakeups(libc::c_int);
#[cfg(not(any(target_os = "linux", target_os = "android")))]
struct PreciseWakeups;

impl PreciseWakeups {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn new() -> PreciseWakeups {
        // SAFETY: PR_GET/SET_TIMERSLACK take plain integers and affect only
        // the calling thread.
        unsafe {
            let old = libc::prctl(libc::PR_GET_TIMERSLACK);
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
            PreciseWakeups(old)
        }
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn new() -> PreciseWakeups {
        PreciseWakeups
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl Drop for PreciseWakeups {
    fn drop(&mut self) {
        if self.0 > 0 {
            // SAFETY: as in `new`; restores the value read there.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, self.0 as libc::c_ulong) };
        }
    }
}

/// A call in flight; see [`Watched::begin_guard`].
pub(crate) struct InFlight<'a>(&'a Watch);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// What the epoch callback needs from the store's data.
pub(crate) trait CallState {
    type Watched: Watched;
    fn watched(&self) -> &Arc<Self::Watched>;
    fn watch(&self) -> &Watch {
        self.watched().watch()
    }
    fn call_seq(&self) -> u64;
    fn cancel(&self) -> Option<&Cancel>;
}

/// Arms the store for the next call and installs the callback that decides,
/// on every epoch bump, whether the current call must stop.
pub(crate) fn install_callback<T: CallState + 'static>(store: &mut wasmtime::Store<T>) {
    store.epoch_deadline_callback(|ctx| {
        let data = ctx.data();
        match data.watch().verdict(data.call_seq(), data.cancel()) {
            Some(stopped) => Err(wasmtime::Error::new(stopped)),
            None => Ok(UpdateDeadline::Continue(1)),
        }
    });
    store.set_epoch_deadline(1);
}

/// A cancel token: triggering it stops every call or load that was given it,
/// whether it is already running or has not started yet.
pub struct Cancel {
    engine: Engine,
    triggered: AtomicBool,
    /// Threads blocked outside wasm (a call sleeping in WASI, a load waiting
    /// for its compile) that a trigger must wake; the epoch bump only
    /// reaches running guests.
    sleepers: Mutex<Vec<Arc<dyn Sleeper>>>,
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancel")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl Cancel {
    pub(crate) fn new(engine: &Engine) -> Cancel {
        Cancel {
            engine: engine.clone(),
            triggered: AtomicBool::new(false),
            sleepers: Mutex::new(Vec::new()),
        }
    }

    /// Cancels; safe from any thread, idempotent.
    pub fn trigger(&self) {
        self.triggered.store(true, SeqCst);
        self.engine.increment_epoch();
        TIMER.bump_again(&self.engine);
        for sleeper in self.sleepers().iter() {
            sleeper.wake();
        }
    }

    /// Has [`Cancel::trigger`] wake `sleeper` until the guard drops. The
    /// caller checks [`Cancel::is_triggered`] after this returns, so a
    /// trigger is either seen there or wakes the sleeper.
    pub(crate) fn wake_on_trigger(&self, sleeper: Arc<dyn Sleeper>) -> Subscription<'_> {
        self.sleepers().push(sleeper.clone());
        Subscription {
            cancel: self,
            sleeper,
        }
    }

    fn sleepers(&self) -> std::sync::MutexGuard<'_, Vec<Arc<dyn Sleeper>>> {
        self.sleepers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the token usable again. Not for use while a call holds it.
    pub fn reset(&self) {
        self.triggered.store(false, SeqCst);
    }

    /// Whether [`Cancel::trigger`] was called since creation or the last reset.
    pub fn is_triggered(&self) -> bool {
        self.triggered.load(SeqCst)
    }

    pub(crate) fn belongs_to(&self, engine: &Engine) -> bool {
        Engine::same(&self.engine, engine)
    }
}

/// See [`Cancel::wake_on_trigger`].
pub(crate) struct Subscription<'a> {
    cancel: &'a Cancel,
    sleeper: Arc<dyn Sleeper>,
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        let mut sleepers = self.cancel.sleepers();
        let me = Arc::as_ptr(&self.sleeper);
        if let Some(i) = sleepers
            .iter()
            .position(|s| std::ptr::addr_eq(Arc::as_ptr(s), me))
        {
            sleepers.swap_remove(i);
        }
    }
}

/// A thread blocked outside wasm, which a cancel trigger must wake.
pub(crate) trait Sleeper: Send + Sync {
    fn wake(&self);
}

impl<W: Watched> Sleeper for W {
    fn wake(&self) {
        self.watch().wake_sleeper();
    }
}

impl Sleeper for Event {
    fn wake(&self) {
        self.set();
    }
}

/// An auto-reset event: [`Event::set`] wakes the thread in [`Event::wait`],
/// or makes its next wait return at once, so a waiter that checks its
/// conditions and then waits never misses a change made in between.
#[derive(Default)]
pub(crate) struct Event {
    set: Mutex<bool>,
    wake: Condvar,
}

impl Event {
    pub(crate) fn set(&self) {
        *self.set.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }

    /// Sleeps until the event is set or `deadline` (in [`now_ns`] time,
    /// `None` for never) passes, and resets it.
    pub(crate) fn wait(&self, deadline: Option<u64>) {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        while !*set {
            let now = now_ns();
            set = match deadline {
                None => self.wake.wait(set).unwrap_or_else(|p| p.into_inner()),
                Some(at) if at > now => {
                    let nap = Duration::from_nanos(at - now);
                    self.wake
                        .wait_timeout(set, nap)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                Some(_) => break,
            };
        }
        *set = false;
    }
}

/// Turns a relative timeout into an absolute deadline in [`now_ns`] time.
pub(crate) fn deadline_after(timeout: Option<Duration>) -> Option<u64> {
    timeout.map(|t| now_ns().saturating_add(t.as_nanos().min(u64::MAX as u128) as u64))
}

/// How long something may run: the host's default, no limit, or a duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Timeout {
    /// The host's configured default (`exec_timeout` or `load_timeout`).
    #[default]
    HostDefault,
    /// No deadline at all.
    Never,
    /// This long from the start of the call or load.
    After(Duration),
}

impl Timeout {
    /// The absolute deadline in [`now_ns`] time, counted from now.
    pub(crate) fn deadline(self, host_default: Option<Duration>) -> Option<u64> {
        match self {
            Timeout::HostDefault => deadline_after(host_default),
            Timeout::Never => None,
            Timeout::After(d) => deadline_after(Some(d)),
        }
    }
}

/// The process-wide timer. It sleeps until the earliest armed deadline and
/// never wakes on a fixed tick.
struct Timer {
    queue: Mutex<Queue>,
    wake: Condvar,
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    /// When the thread will wake next; `u64::MAX` when it sleeps with no
    /// deadline, 0 when it has not been started.
    sleeping_until: u64,
}

struct Entry {
    at: u64,
    target: Target,
}

/// What a timer entry bumps the epoch for.
enum Target {
    /// A call's deadline in a store of the engine; `backoff` is 0 until the
    /// deadline has passed, then the wait before bumping again (see
    /// [`RETRY_FIRST_NS`]). Weak: a finished call's entry stays queued
    /// until it falls due, and must not keep its module, or its `Engine`
    /// (a pool's whole reservation), alive after the host is closed.
    Deadline(Weak<dyn Watched>, EngineWeak, u64),
    /// Spare bumps after an interrupt or a cancel, until `backoff` passes
    /// [`RETRY_LAST_NS`].
    Spare(Engine, u64),
}

/// An epoch callback that is deciding "not this call yet" just as the bump
/// meant for its call lands re-arms past that bump, and its guest would run
/// on. So a bump that stops something is repeated, 1 ms later, then at
/// doubling intervals: for a deadline until the call ends, for an interrupt
/// or a cancel (whose calls the timer does not know) for about half a second.
/// Seen under qemu, where the window is wide; a spare bump only costs the
/// callbacks of the host's running calls a look at their flags.
const RETRY_FIRST_NS: u64 = 1_000_000;
const RETRY_MAX_NS: u64 = 100_000_000;
const RETRY_LAST_NS: u64 = 256_000_000;

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

static TIMER: LazyLock<Timer> = LazyLock::new(|| Timer {
    queue: Mutex::new(Queue::default()),
    wake: Condvar::new(),
});

impl Timer {
    fn arm(&'static self, owner: &Arc<impl Watched>, engine: &Engine, at: u64) -> Result<()> {
        let watch = owner.watch();
        watch.armed_ns.store(at, SeqCst);
        let owner: Weak<dyn Watched> = Arc::downgrade(owner) as Weak<_>;
        self.push(at, Target::Deadline(owner, engine.weak(), 0))
            .inspect_err(|_| watch.armed_ns.store(0, SeqCst))
    }

    /// Schedules the spare bumps that follow an interrupt or a cancel. Best
    /// effort: the interrupt itself has bumped the epoch already.
    fn bump_again(&'static self, engine: &Engine) {
        let at = now_ns() + RETRY_FIRST_NS;
        let _ = self.push(at, Target::Spare(engine.clone(), RETRY_FIRST_NS));
    }

    /// Queues `target`, starting the thread the first time. If the thread
    /// cannot be started, nothing is queued and a later push tries again.
    fn push(&'static self, at: u64, target: Target) -> Result<()> {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.sleeping_until == 0 {
            // The new thread waits for this lock, so it sees the entry.
            std::thread::Builder::new()
                .name("sbx-deadline".into())
                .spawn(move || self.run())
                .map_err(|e| {
                    Error::new(
                        Status::InstanceLimit,
                        format!("cannot start the sbx deadline thread: {e}"),
                    )
                })?;
            queue.sleeping_until = u64::MAX;
        } else if at < queue.sleeping_until {
            self.wake.notify_one();
        }
        queue.heap.push(Reverse(Entry { at, target }));
        Ok(())
    }

    fn run(&self) {
        // Linux lets a sleeping thread wake up to 50 us late by default
        // ("timer slack"); the deadline thread wants to wake on time.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only this thread.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong)
        };
        // macOS has no per-thread slack: it coalesces timers by QoS class,
        // and the user-interactive class gets the least leeway.
        #[cfg(target_vendor = "apple")]
        // SAFETY: affects only this thread's scheduling class.
        unsafe {
            libc::pthread_set_qos_class_self_np(libc::qos_class_t::QOS_CLASS_USER_INTERACTIVE, 0)
        };
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let now = now_ns();
            while queue.heap.peek().is_some_and(|e| e.0.at <= now) {
                let Reverse(entry) = queue.heap.pop().expect("peeked");
                let (owner, engine, backoff) = match entry.target {
                    Target::Deadline(owner, engine, backoff) => (owner, engine, backoff),
                    Target::Spare(engine, backoff) => {
                        engine.increment_epoch();
                        let next = backoff * 2;
                        if next <= RETRY_LAST_NS {
                            let at = now + next;
                            queue.heap.push(Reverse(Entry {
                                at,
                                target: Target::Spare(engine, next),
                            }));
                        }
                        continue;
                    }
                };
                let Some(watched) = owner.upgrade() else {
                    continue; // its module is gone
                };
                // Clear first, then read the deadline (see `Watched::begin`).
                let watch = watched.watch();
                watch.armed_ns.store(0, SeqCst);
                let deadline = watch.deadline_ns.load(SeqCst);
                if deadline == 0 {
                    continue; // the call ended; nothing to watch
                }
                let (at, backoff) = if deadline <= now {
                    let Some(live_engine) = engine.upgrade() else {
                        continue; // its host is gone
                    };
                    live_engine.increment_epoch();
                    // Again until the call ends (see RETRY_FIRST_NS).
                    let next = (backoff * 2).clamp(RETRY_FIRST_NS, RETRY_MAX_NS);
                    (now + next, next)
                } else {
                    (deadline, 0)
                };
                watch.armed_ns.store(at, SeqCst);
                queue.heap.push(Reverse(Entry {
                    at,
                    target: Target::Deadline(owner, engine, backoff),
                }));
            }
            queue = match queue.heap.peek().map(|e| e.0.at) {
                None => {
                    queue.sleeping_until = u64::MAX;
                    self.wake.wait(queue).unwrap_or_else(|p| p.into_inner())
                }
                Some(at) => {
                    queue.sleeping_until = at;
                    let nap = Duration::from_nanos(at.saturating_sub(now_ns()));
                    self.wake
                        .wait_timeout(queue, nap)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }
}

/// How many deadlines are queued; for tests that check the timer stays idle.
pub fn queued_deadlines() -> usize {
    TIMER
        .queue
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .heap
        .len()
}
