//! Compiled-module cache: in memory by content hash, and optionally on disk
//! as `Module::serialize` output, keyed by content hash and by the engine's
//! compatibility hash.
//!
//! The cache directory must be trusted: Wasmtime runs the machine code it
//! finds there. The checksum in each file guards against truncation and
//! corruption, not against an attacker who can write to the directory.

use crate::error::{Error, Result, Status};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use wasmtime::{Engine, Module};

/// How many compiled modules a host keeps in memory; the oldest goes first.
pub(crate) const MEMORY_CACHE_ENTRIES: usize = 256;

const MAGIC: &[u8; 8] = b"SBXCWASM";
const HEADER_LEN: usize = 8 + 8 + 32;

/// SHA-256 of a module's bytes: collision-resistant, so a crafted module
/// cannot alias another's cache entry.
pub type ContentHash = [u8; 32];

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
    dir: Option<PathBuf>,
    /// Part of every file name: files from another Wasmtime build or engine
    /// configuration are never even opened.
    engine_tag: String,
}

#[derive(Default)]
struct MemoryCache {
    modules: HashMap<ContentHash, Module>,
    order: VecDeque<ContentHash>,
}

pub(crate) fn content_hash(bytes: &[u8]) -> ContentHash {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ModuleCache {
    pub(crate) fn new(engine: &Engine, dir: Option<&Path>) -> Result<ModuleCache> {
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
            dir: dir.map(Path::to_path_buf),
            engine_tag: format!("{:016x}", hasher.finish()),
        })
    }

    /// The compiled module for `bytes`, from memory, disk, or a fresh compile.
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> Result<(Module, CacheSource)> {
        let key = content_hash(bytes);
        if let Some(module) = self.lock().modules.get(&key) {
            return Ok((module.clone(), CacheSource::Memory));
        }
        let (module, source) = match self.read_disk(engine, &key) {
            Some(module) => (module, CacheSource::Disk),
            None => {
                let module = Module::from_binary(engine, bytes)
                    .map_err(|e| Error::new(Status::CompileError, format!("compile: {e:#}")))?;
                self.write_disk(&key, &module);
                (module, CacheSource::Compiled)
            }
        };
        let mut memory = self.lock();
        if memory.modules.insert(key, module.clone()).is_none() {
            memory.order.push_back(key);
            while memory.order.len() > MEMORY_CACHE_ENTRIES {
                if let Some(old) = memory.order.pop_front() {
                    memory.modules.remove(&old);
                }
            }
        }
        Ok((module, source))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryCache> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, key: &ContentHash) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{}-{}.cwasm", hex(key), self.engine_tag)))
    }

    /// A missing, truncated, corrupt or incompatible file is a miss.
    fn read_disk(&self, engine: &Engine, key: &ContentHash) -> Option<Module> {
        let file = std::fs::read(self.path(key)?).ok()?;
        let payload = verify(&file)?;
        // SAFETY: the payload is `Module::serialize` output that this process
        // (or another sbx with the same engine tag) wrote, checked against its
        // checksum; the directory is documented as trusted. Wasmtime itself
        // rejects output of another version or configuration.
        unsafe { Module::deserialize(engine, payload) }.ok()
    }

    /// Best effort: a cache that cannot be written only costs a recompile.
    fn write_disk(&self, key: &ContentHash, module: &Module) {
        let (Some(path), Ok(payload)) = (self.path(key), module.serialize()) else {
            return;
        };
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = (|| -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&encode_header(&payload))?;
            file.write_all(&payload)?;
            // No fsync: a file torn by a crash fails its checksum and is a miss.
            std::fs::rename(&tmp, &path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

fn encode_header(payload: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    header.extend_from_slice(&Sha256::digest(payload));
    header
}

/// The payload of a cache file, if its header, length and checksum hold.
fn verify(file: &[u8]) -> Option<&[u8]> {
    if file.len() < HEADER_LEN || &file[..8] != MAGIC {
        return None;
    }
    let len = u64::from_le_bytes(file[8..16].try_into().ok()?) as usize;
    let payload = &file[HEADER_LEN..];
    if payload.len() != len || Sha256::digest(payload).as_slice() != &file[16..48] {
        return None;
    }
    Some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_rejects_damage() {
        let payload = b"compiled code".to_vec();
        let mut file = encode_header(&payload);
        file.extend_from_slice(&payload);
        assert_eq!(verify(&file), Some(&payload[..]));
        assert_eq!(verify(&file[..file.len() - 1]), None, "truncated");
        let mut flipped = file.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(verify(&flipped), None, "corrupt");
        assert_eq!(verify(b"SBX"), None, "short");
        assert_eq!(verify(&[0u8; 64]), None, "no magic");
    }
}
