//! Compiled-module cache: in memory, and optionally on disk as
//! `Module::serialize` output keyed by the module's bytes and the engine's
//! compatibility hash.
//!
//! Both levels find an entry by a fast 64-bit hash and confirm it by
//! comparing the module's bytes, so a crafted module that collides with
//! another's hash only causes a miss, never the other's code. (A SHA-256 of a
//! 1 MB module alone took half of the 1 ms load budget.)
//!
//! The cache directory must be trusted: Wasmtime runs the machine code it
//! finds there. The checksum beside each file guards against truncation and
//! corruption, not against an attacker who can write to the directory.

use crate::clock::now_ns;
use crate::deadline::{Cancel, Event};
use crate::error::{Error, Result, Status};
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use wasmtime::{Engine, Module};

/// How many compiled modules a host keeps in memory; the oldest goes first.
pub(crate) const MEMORY_CACHE_ENTRIES: usize = 256;

/// The `.sum` file beside each `.cwasm`: magic, the code's length and
/// checksum, then the module's own bytes (to confirm a hit).
const SUM_MAGIC: &[u8; 8] = b"SBXSUM02";
const SUM_HEADER: usize = 8 + 8 + 8;

/// Native stack of a compile thread: what a main thread gets on Linux, so a
/// deeply nested function compiles here whenever it would inline.
const COMPILE_STACK: usize = 8 * 1024 * 1024;

/// Where a load found its compiled module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheSource {
    /// Compiled now.
    Compiled,
    /// Found in this host's memory.
    Memory,
    /// Read from the cache directory.
    Disk,
}

pub(crate) struct ModuleCache {
    memory: Mutex<MemoryCache>,
    compiles: Arc<Compiles>,
    dir: Option<PathBuf>,
    /// Part of every file name: files from another Wasmtime build or engine
    /// configuration are never even opened.
    engine_tag: String,
}

#[derive(Default)]
struct MemoryCache {
    modules: HashMap<u64, (Arc<[u8]>, Module)>,
    order: VecDeque<u64>,
}

/// A fast, non-cryptographic 64-bit hash (four multiply-rotate lanes, about
/// 8 bytes a cycle): the memory cache's index and the disk files' checksum.
/// Never trusted alone for identity: every hit is confirmed by comparing bytes.
pub(crate) fn fast_hash(bytes: &[u8]) -> u64 {
    const K: [u64; 4] = [
        0x9e37_79b9_7f4a_7c15,
        0xc2b2_ae3d_27d4_eb4f,
        0x1656_67b1_9e37_79f9,
        0x27d4_eb2f_1656_67c5,
    ];
    let mut lanes = K;
    let mut chunks = bytes.chunks_exact(32);
    for chunk in &mut chunks {
        for (i, lane) in lanes.iter_mut().enumerate() {
            let word = u64::from_le_bytes(chunk[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
            *lane = (*lane ^ word).wrapping_mul(K[i]).rotate_left(29);
        }
    }
    let mut h = (bytes.len() as u64).wrapping_mul(K[3]);
    for (i, lane) in lanes.iter().enumerate() {
        h = (h ^ lane.rotate_left(i as u32 * 16)).wrapping_mul(K[0]);
        h ^= h >> 29;
    }
    for b in chunks.remainder() {
        h = (h ^ *b as u64).wrapping_mul(K[1]);
    }
    h ^ (h >> 32)
}

impl ModuleCache {
    pub(crate) fn new(
        engine: &Engine,
        dir: Option<&Path>,
        max_abandoned: u32,
    ) -> Result<ModuleCache> {
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::new(
                    Status::Io,
                    format!("cache directory {}: {e}", dir.display()),
                )
            })?;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ModuleCache {
            memory: Mutex::new(MemoryCache::default()),
            compiles: Arc::new(Compiles {
                max_abandoned: max_abandoned as usize,
                state: Mutex::default(),
            }),
            dir: dir.map(Path::to_path_buf),
            engine_tag: format!("{:016x}", hasher.finish()),
        })
    }

    /// The compiled module for `bytes`, from memory, disk, or a fresh
    /// compile bounded by `deadline` (in [`crate::deadline::now_ns`] time)
    /// and `cancel`; see [`Compiles`].
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        deadline: Option<u64>,
        cancel: Option<&Cancel>,
    ) -> Result<(Module, CacheSource)> {
        let index = fast_hash(bytes);
        if let Some((wasm, module)) = self.lock().modules.get(&index) {
            if **wasm == *bytes {
                return Ok((module.clone(), CacheSource::Memory));
            }
        }
        let wasm: Arc<[u8]> = bytes.into();
        let (module, source) = match self.read_disk(engine, index, bytes) {
            Some(module) => (module, CacheSource::Disk),
            None => {
                self.compiles.admit()?;
                let module = if deadline.is_none() && cancel.is_none() {
                    // Nothing could make this load give up: no thread needed.
                    compile(engine, bytes)?
                } else {
                    self.compiles.run(engine, &wasm, deadline, cancel)?
                };
                self.write_disk(index, bytes, &module);
                (module, CacheSource::Compiled)
            }
        };
        let mut memory = self.lock();
        if memory
            .modules
            .insert(index, (wasm, module.clone()))
            .is_none()
        {
            memory.order.push_back(index);
            while memory.order.len() > MEMORY_CACHE_ENTRIES {
                if let Some(old) = memory.order.pop_front() {
                    memory.modules.remove(&old);
                }
            }
        }
        Ok((module, source))
    }

    /// Wakes every load waiting for a compile, which then fails with
    /// `HandleClosed`; their compiles are abandoned.
    pub(crate) fn close(&self) {
        self.compiles.close();
    }

    /// How many abandoned compiles are still running.
    pub(crate) fn abandoned_compiles(&self) -> usize {
        self.compiles.state().abandoned
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryCache> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The compiled code's path and its `.sum` file's path.
    fn paths(&self, index: u64, wasm: &[u8]) -> Option<(PathBuf, PathBuf)> {
        let dir = self.dir.as_ref()?;
        let stem = format!("{index:016x}-{:x}-{}", wasm.len(), self.engine_tag);
        Some((
            dir.join(format!("{stem}.cwasm")),
            dir.join(format!("{stem}.sum")),
        ))
    }

    /// A missing, truncated, corrupt or incompatible file, one compiled from
    /// other bytes with the same hash, or anything but a regular file, is a miss.
    fn read_disk(&self, engine: &Engine, index: u64, wasm: &[u8]) -> Option<Module> {
        let (code, sum) = self.paths(index, wasm)?;
        let (len, checksum) = parse_sum(Mapping::of(&open_regular(&sum)?)?.bytes(), wasm)?;
        let code = open_regular(&code)?;
        let matches = Mapping::of(&code)
            .is_some_and(|m| m.len as u64 == len && fast_hash(m.bytes()) == checksum);
        if !matches {
            return None;
        }
        // SAFETY: the file is `Module::serialize` output that an sbx with the
        // same engine tag wrote for these very bytes and whose checksum still
        // holds; the directory is documented as trusted. Wasmtime itself
        // rejects output of another version or configuration. Mapping the
        // file avoids copying the code; passing the checked file (not its
        // path) means what was checked is what runs.
        unsafe { Module::deserialize_open_file(engine, code) }.ok()
    }

    /// Best effort: a cache that cannot be written only costs a recompile.
    /// The code goes first and its `.sum` second, each by rename, so a
    /// reader sees either a matching pair or a mismatch (a miss).
    fn write_disk(&self, index: u64, wasm: &[u8], module: &Module) {
        let (Some((code, sum)), Ok(payload)) = (self.paths(index, wasm), module.serialize()) else {
            return;
        };
        let mut sum_bytes = Vec::with_capacity(SUM_HEADER + wasm.len());
        sum_bytes.extend_from_slice(SUM_MAGIC);
        sum_bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        sum_bytes.extend_from_slice(&fast_hash(&payload).to_le_bytes());
        sum_bytes.extend_from_slice(wasm);
        let _ = write_atomically(&code, &payload).and_then(|()| write_atomically(&sum, &sum_bytes));
    }
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Module> {
    Module::from_binary(engine, wasm)
        .map_err(|e| Error::new(Status::CompileError, format!("compile: {e:#}")))
}

/// Compiles that a load may give up on. Cranelift cannot be interrupted, so
/// a load with a deadline or a cancel token compiles on a thread of its own
/// and waits for it; on timeout, cancel or host close it returns at once
/// and abandons the compile, which runs to its end and is then dropped,
/// never cached (its load already failed). At most `max_abandoned` such
/// compiles run per host: past that, loads that need a compile are refused
/// until one ends, so repeated timeouts cannot pile up work. (Loads already
/// compiling when the cap fills may still abandon theirs: the count can
/// pass the cap by the number of such loads, each of which had a caller
/// waiting on it until its own deadline.)
struct Compiles {
    max_abandoned: usize,
    state: Mutex<CompilesState>,
}

#[derive(Default)]
struct CompilesState {
    abandoned: usize,
    closed: bool,
    /// Events of the loads waiting for a compile, set on close.
    waiting: Vec<Arc<Event>>,
}

/// One compile on its thread, shared with the load that waits for it.
struct Job {
    event: Arc<Event>,
    outcome: Mutex<Outcome>,
}

enum Outcome {
    Running,
    Done(Result<Module>),
    Abandoned,
}

impl Compiles {
    fn state(&self) -> MutexGuard<'_, CompilesState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Refuses a compile while the host is at its cap of abandoned ones.
    fn admit(&self) -> Result<()> {
        let state = self.state();
        if state.closed {
            return Err(Error::closed("host"));
        }
        if state.abandoned >= self.max_abandoned {
            return Err(Error::new(
                Status::InstanceLimit,
                format!(
                    "{} compiles abandoned by timed-out or cancelled loads are still running \
                     (the host's max_abandoned_compiles); retry later",
                    state.abandoned
                ),
            ));
        }
        Ok(())
    }

    fn close(&self) {
        let waiting = {
            let mut state = self.state();
            state.closed = true;
            std::mem::take(&mut state.waiting)
        };
        for event in waiting {
            event.set();
        }
    }

    /// Compiles `wasm` on a new thread and waits for it until `deadline`, a
    /// trigger of `cancel`, or a close of the host.
    fn run(
        self: &Arc<Self>,
        engine: &Engine,
        wasm: &Arc<[u8]>,
        deadline: Option<u64>,
        cancel: Option<&Cancel>,
    ) -> Result<Module> {
        let stopped = || {
            if cancel.is_some_and(Cancel::is_triggered) {
                Some(Error::new(
                    Status::Interrupted,
                    "compile: interrupted (the compile is abandoned)",
                ))
            } else if self.state().closed {
                Some(Error::closed("host"))
            } else if deadline.is_some_and(|d| now_ns() >= d) {
                Some(Error::new(
                    Status::Timeout,
                    "compile: deadline exceeded (the compile is abandoned)",
                ))
            } else {
                None
            }
        };
        if let Some(err) = stopped() {
            return Err(err); // before starting a thread for nothing
        }
        let job = Arc::new(Job {
            event: Arc::new(Event::default()),
            outcome: Mutex::new(Outcome::Running),
        });
        let worker = {
            let (job, compiles, engine, wasm) =
                (job.clone(), self.clone(), engine.clone(), wasm.clone());
            move || {
                // Unwind safety: everything the closure touches is dropped
                // right after, except the job, which gets a plain error.
                let compiled =
                    std::panic::catch_unwind(AssertUnwindSafe(|| compile(&engine, &wasm)))
                        .unwrap_or_else(|_| Err(Error::new(Status::Internal, "compile panicked")));
                let mut outcome = job.lock();
                if let Outcome::Abandoned = *outcome {
                    drop(outcome);
                    drop(compiled); // frees the code here, not in a load
                    compiles.state().abandoned -= 1;
                } else {
                    *outcome = Outcome::Done(compiled);
                    drop(outcome);
                    job.event.set();
                }
            }
        };
        std::thread::Builder::new()
            .name("sbx-compile".into())
            .stack_size(COMPILE_STACK)
            .spawn(worker)
            .map_err(|e| {
                Error::new(
                    Status::InstanceLimit,
                    format!("cannot start a compile thread: {e}"),
                )
            })?;

        // Subscribe first, check second: a wake-up in between sets the event.
        let _on_cancel = cancel.map(|c| c.wake_on_trigger(job.event.clone()));
        self.state().waiting.push(job.event.clone());
        let waited = loop {
            let stop = stopped();
            let mut outcome = job.lock();
            if let Outcome::Done(compiled) = std::mem::replace(&mut *outcome, Outcome::Running) {
                break compiled;
            }
            if let Some(err) = stop {
                *outcome = Outcome::Abandoned;
                // Counted before the lock is released, so before the
                // worker can see `Abandoned` and count it down.
                self.state().abandoned += 1;
                break Err(err);
            }
            drop(outcome);
            job.event.wait(deadline);
        };
        let mut state = self.state();
        if let Some(i) = state
            .waiting
            .iter()
            .position(|e| Arc::ptr_eq(e, &job.event))
        {
            state.waiting.swap_remove(i);
        }
        waited
    }
}

impl Job {
    fn lock(&self) -> MutexGuard<'_, Outcome> {
        self.outcome.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Writes `bytes` to a temporary file beside `path` and renames it there.
/// No fsync: a file torn by a crash fails its checksum and is a miss.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut file| std::io::Write::write_all(&mut file, bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The code length and checksum a `.sum` file records, if it was written
/// for exactly these module bytes.
fn parse_sum(sum: &[u8], wasm: &[u8]) -> Option<(u64, u64)> {
    if sum.len() < SUM_HEADER || &sum[..8] != SUM_MAGIC || sum[SUM_HEADER..] != *wasm {
        return None;
    }
    let len = u64::from_le_bytes(sum[8..16].try_into().ok()?);
    let checksum = u64::from_le_bytes(sum[16..24].try_into().ok()?);
    Some((len, checksum))
}

/// A private read-only mapping of a whole file: reading a cache file this
/// way costs page-cache faults, not a fresh allocation plus a copy (which
/// dominated a disk hit in a new process).
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapping {
    fn of(file: &std::fs::File) -> Option<Mapping> {
        use std::os::fd::AsRawFd;
        let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
        if len == 0 {
            return None;
        }
        // SAFETY: a read-only private mapping of `len` bytes of an open
        // regular file; the fd may close once the mapping exists.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        (ptr != libc::MAP_FAILED).then_some(Mapping { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes for as long as `self` lives.
        // (A file truncated by someone else meanwhile would fault: the cache
        // directory is documented as trusted and written only by rename.)
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `open` made.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// Opens a cache file if it is a regular file; anything else is a miss.
/// `O_NONBLOCK`: opening a FIFO put in a file's place would otherwise wait
/// for a writer forever (it changes nothing for a regular file).
/// `O_NOFOLLOW`: sbx only ever puts files there by rename, never symlinks,
/// so a symlink is not one of its files.
fn open_regular(path: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    file.metadata().ok()?.is_file().then_some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_hash_sees_every_byte_and_the_length() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let base = fast_hash(&data);
        for i in [0, 31, 32, 500, 998, 999] {
            let mut changed = data.clone();
            changed[i] ^= 1;
            assert_ne!(fast_hash(&changed), base, "byte {i}");
        }
        assert_ne!(fast_hash(&data[..999]), base, "truncated");
        assert_ne!(fast_hash(b""), fast_hash(b"\0"));
    }

    #[test]
    fn sum_files_are_checked() {
        let mut sum = SUM_MAGIC.to_vec();
        sum.extend_from_slice(&5u64.to_le_bytes());
        sum.extend_from_slice(&9u64.to_le_bytes());
        sum.extend_from_slice(b"module");
        assert_eq!(parse_sum(&sum, b"module"), Some((5, 9)));
        assert_eq!(
            parse_sum(&sum, b"modulf"),
            None,
            "other bytes, same hash slot"
        );
        assert_eq!(parse_sum(&sum[..20], b""), None, "truncated");
        assert_eq!(parse_sum(&[0u8; SUM_HEADER], b""), None, "no magic");
    }
}
