//! The compiled-module cache: in memory per host, and on disk across hosts,
//! where a damaged or foreign file is only ever a miss.

mod common;

use common::*;
use sbx::{CacheSource, Host, HostConfig, Limits, Status, Timeout};
use std::path::{Path, PathBuf};

fn cached_host(dir: &Path, limits: Limits) -> Host {
    Host::new(HostConfig {
        limits,
        cache_dir: Some(dir.to_path_buf()),
        ..Default::default()
    })
    .expect("create host with a cache dir")
}

fn source_of(host: &Host, name: &str) -> CacheSource {
    let (module, source) = host
        .load_with(name, &fixture(name), &never())
        .unwrap_or_else(|e| panic!("load {name}: {e}"));
    // Whatever the source, the module works.
    match name {
        "add" => assert_eq!(call(&module, "add", &[40, 2]).unwrap(), vec![42]),
        "fib" => assert_eq!(call(&module, "fib", &[10]).unwrap(), vec![55]),
        _ => {}
    }
    source
}

/// The cache files in `dir`, sorted.
fn cache_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read cache dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    files.sort();
    files
}

fn only_cache_file(dir: &Path) -> PathBuf {
    let files = cache_files(dir);
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

#[test]
fn same_bytes_twice_come_from_memory() {
    let host = default_host();
    assert_eq!(source_of(&host, "add"), CacheSource::Compiled);
    assert_eq!(source_of(&host, "add"), CacheSource::Memory);
    assert_eq!(source_of(&host, "fib"), CacheSource::Compiled);
    assert_eq!(source_of(&host, "add"), CacheSource::Memory);
    // The memory cache is per host.
    let other = default_host();
    assert_eq!(source_of(&other, "add"), CacheSource::Compiled);
    // Loading from the cache still gives an independent instance.
    let a = load(&host, "counter");
    let b = load(&host, "counter");
    call(&a, "inc", &[]).unwrap();
    assert_eq!(call(&b, "get", &[]).unwrap(), vec![0]);
}

#[test]
fn compile_errors_are_not_cached() {
    let dir = TempDir::new("nocache");
    let host = cached_host(dir.path(), Limits::default());
    for _ in 0..2 {
        assert_eq!(
            status_of(host.load_with("junk", b"junk", &never())),
            Status::CompileError
        );
    }
    assert!(cache_files(dir.path()).is_empty());
}

#[test]
fn a_new_host_loads_from_the_disk_cache() {
    let dir = TempDir::new("disk");
    let first = cached_host(dir.path(), Limits::default());
    assert_eq!(source_of(&first, "add"), CacheSource::Compiled);
    assert_eq!(source_of(&first, "add"), CacheSource::Memory);
    let file = only_cache_file(dir.path());
    let sum = std::fs::read(file.with_extension("sum")).expect("the .sum beside the code");
    assert_eq!(sum.len(), SUM_HEADER + fixture("add").len());
    let second = cached_host(dir.path(), Limits::default());
    assert_eq!(source_of(&second, "add"), CacheSource::Disk);
    assert_eq!(source_of(&second, "add"), CacheSource::Memory);
    assert_eq!(only_cache_file(dir.path()), file);
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.extension().is_some_and(|e| e == "cwasm" || e == "sum"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_cache_dir_is_created_when_missing() {
    let dir = TempDir::new("create");
    let nested = dir.path().join("a").join("b");
    let host = cached_host(&nested, Limits::default());
    assert!(nested.is_dir());
    assert_eq!(source_of(&host, "fib"), CacheSource::Compiled);
    assert_eq!(cache_files(&nested).len(), 1);
}

#[test]
fn io_error_when_the_cache_dir_cannot_be_created() {
    let dir = TempDir::new("io");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let err = Host::new(HostConfig {
        limits: Limits::default(),
        cache_dir: Some(file.join("cache")),
        ..Default::default()
    })
    .fails();
    assert_eq!(err.status(), Status::Io, "{err}");
}

#[test]
fn a_file_from_other_engine_settings_is_not_used() {
    let dir = TempDir::new("engines");
    let fuel = Limits {
        fuel: Some(1_000_000),
        ..Default::default()
    };
    assert_eq!(
        source_of(&cached_host(dir.path(), Limits::default()), "add"),
        CacheSource::Compiled
    );
    assert_eq!(
        source_of(&cached_host(dir.path(), fuel.clone()), "add"),
        CacheSource::Compiled
    );
    // One file per engine configuration, each used by its own kind of host.
    assert_eq!(cache_files(dir.path()).len(), 2);
    assert_eq!(
        source_of(&cached_host(dir.path(), fuel.clone()), "add"),
        CacheSource::Disk
    );
    assert_eq!(
        source_of(&cached_host(dir.path(), Limits::default()), "add"),
        CacheSource::Disk
    );
}

#[test]
fn a_foreign_file_under_the_right_name_is_not_used() {
    // Code compiled without fuel checks, planted with its own `.sum` where a
    // fuel-metered host looks: the host must not run it (it would loop
    // forever), but recompile.
    let plain = TempDir::new("plain");
    let metered = TempDir::new("metered");
    let fuel = Limits {
        fuel: Some(100_000),
        ..Default::default()
    };
    let wasm = fixture("infinite_loop");
    cached_host(plain.path(), Limits::default())
        .load("loop", &wasm, Timeout::Never, None)
        .unwrap();
    cached_host(metered.path(), fuel.clone())
        .load("loop", &wasm, Timeout::Never, None)
        .unwrap();
    // Both files, so the pair is consistent (the checksum holds) and only
    // Wasmtime's own check of the engine configuration can refuse it.
    let (foreign, target) = (Entry::of(plain.path()), Entry::of(metered.path()));
    std::fs::copy(&foreign.code, &target.code).unwrap();
    std::fs::copy(&foreign.sum, &target.sum).unwrap();

    let host = cached_host(metered.path(), fuel);
    let (module, source) = host.load_with("loop", &wasm, &never()).unwrap();
    assert_eq!(source, CacheSource::Compiled);
    let err = call_with(&module, "loop", &[], Timeout::After(ms(30_000))).fails();
    assert_eq!(err.status(), Status::FuelExhausted, "{err}");
}

/// Load options with no load deadline.
fn never() -> sbx::LoadOptions {
    sbx::LoadOptions {
        timeout: Timeout::Never,
        ..sbx::LoadOptions::default()
    }
}

// A disk entry is two files named after the module's hash and length and
// the engine: `<stem>.cwasm`, Wasmtime's serialized code as is, and
// `<stem>.sum`: magic, the code's length and checksum (u64 LE each), then
// the module's own bytes. The tests below damage each part of each file.
const SUM_MAGIC: &[u8; 8] = b"SBXSUM02";
const SUM_LEN_AT: usize = 8;
const SUM_CHECKSUM_AT: usize = 16;
const SUM_HEADER: usize = 24;

/// The module every damage test caches, and what a call to it must return.
const MODULE: &str = "fib";

/// The two files of the one disk entry in a directory.
struct Entry {
    code: PathBuf,
    sum: PathBuf,
}

impl Entry {
    fn of(dir: &Path) -> Entry {
        let code = only_cache_file(dir);
        let sum = code.with_extension("sum");
        for path in [&code, &sum] {
            let meta = std::fs::symlink_metadata(path).unwrap();
            assert!(meta.is_file(), "{} is not a regular file", path.display());
        }
        Entry { code, sum }
    }

    fn path(&self, part: Part) -> &Path {
        match part {
            Part::Code => &self.code,
            Part::Sum => &self.sum,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Part {
    Code,
    Sum,
}

/// Loads `name` on a fresh host over `dir` from another thread, failing
/// (rather than hanging) if the load does not finish in a generous bound.
/// A fresh host each time: its memory cache is empty, so the load goes to disk.
fn source_within_bound(dir: &Path, name: &'static str) -> CacheSource {
    let dir = dir.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // The host and its module are gone before the caller hears back:
        // a module from disk maps its file, which the caller may damage next.
        let source = source_of(&cached_host(&dir, Limits::default()), name);
        let _ = tx.send(source);
    });
    rx.recv_timeout(ms(60_000))
        .expect("the load failed, or blocked on a cache file")
}

/// A directory holding a good entry for `name`, which a new host hits: so a
/// miss after a damage is the damage's doing.
fn good_entry(tag: &str, name: &'static str) -> (TempDir, Entry) {
    let dir = TempDir::new(tag);
    assert_eq!(source_within_bound(dir.path(), name), CacheSource::Compiled);
    assert_eq!(
        source_within_bound(dir.path(), name),
        CacheSource::Disk,
        "{tag}: the undamaged entry"
    );
    let entry = Entry::of(dir.path());
    (dir, entry)
}

/// Rewrites one file of a good entry with `damage`, then checks that a new
/// host misses (recompiles, and the module returns the right results), and
/// that the recompile rewrote the entry, so the host after it hits again.
fn damaged_bytes_are_a_miss(tag: &str, part: Part, damage: impl Fn(&mut Vec<u8>)) {
    let (dir, entry) = good_entry(tag, MODULE);
    let path = entry.path(part);
    let mut bytes = std::fs::read(path).unwrap();
    damage(&mut bytes);
    std::fs::write(path, &bytes).unwrap();
    assert_eq!(
        source_within_bound(dir.path(), MODULE),
        CacheSource::Compiled,
        "{tag} ({part:?}): the damage went unnoticed"
    );
    assert_eq!(
        source_within_bound(dir.path(), MODULE),
        CacheSource::Disk,
        "{tag} ({part:?}): not repaired"
    );
    Entry::of(dir.path());
}

/// Replaces one file of a good entry with what `plant` puts at its path,
/// and checks that a new host misses without blocking; returns the
/// directory for the caller to check what the recompile did.
fn replaced_file_is_a_miss(tag: &str, part: Part, plant: impl Fn(&Path)) -> (TempDir, Entry) {
    let (dir, entry) = good_entry(tag, MODULE);
    let path = entry.path(part);
    std::fs::remove_file(path).unwrap();
    plant(path);
    assert_eq!(
        source_within_bound(dir.path(), MODULE),
        CacheSource::Compiled,
        "{tag} ({part:?})"
    );
    (dir, entry)
}

fn flip_bit(at: impl Fn(usize) -> usize) -> impl Fn(&mut Vec<u8>) {
    move |bytes| {
        let i = at(bytes.len());
        bytes[i] ^= 0x10;
    }
}

fn set_u64(at: usize, value: impl Fn(u64) -> u64) -> impl Fn(&mut Vec<u8>) {
    move |bytes| {
        let old = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        bytes[at..at + 8].copy_from_slice(&value(old).to_le_bytes());
    }
}

#[test]
fn the_sum_file_layout_is_what_the_damage_tests_assume() {
    let (_dir, entry) = good_entry("layout", MODULE);
    let code = std::fs::read(&entry.code).unwrap();
    let sum = std::fs::read(&entry.sum).unwrap();
    assert_eq!(&sum[..8], SUM_MAGIC);
    let len = u64::from_le_bytes(sum[SUM_LEN_AT..SUM_LEN_AT + 8].try_into().unwrap());
    assert_eq!(len, code.len() as u64, "the length field");
    assert_eq!(sum[SUM_HEADER..], fixture(MODULE), "the module's bytes");
    // The code file is Wasmtime's serialized module (an ELF image), bare.
    assert_eq!(&code[..4], b"\x7fELF");
}

#[test]
fn a_truncated_sum_file_is_a_miss() {
    let sum = Part::Sum;
    damaged_bytes_are_a_miss("sum-empty", sum, |b| b.clear());
    damaged_bytes_are_a_miss("sum-in-header", sum, |b| b.truncate(SUM_HEADER - 1));
    damaged_bytes_are_a_miss("sum-header-only", sum, |b| b.truncate(SUM_HEADER));
    damaged_bytes_are_a_miss("sum-short-by-one", sum, |b| {
        b.pop();
    });
}

#[test]
fn a_sum_file_with_a_wrong_checksum_is_a_miss() {
    let sum = Part::Sum;
    damaged_bytes_are_a_miss(
        "sum-checksum-low-bit",
        sum,
        set_u64(SUM_CHECKSUM_AT, |c| c ^ 1),
    );
    damaged_bytes_are_a_miss(
        "sum-checksum-high-bit",
        sum,
        set_u64(SUM_CHECKSUM_AT, |c| c ^ (1 << 63)),
    );
}

#[test]
fn a_sum_file_with_a_wrong_length_is_a_miss() {
    // The checksum still matches the code: only the length check can tell.
    let sum = Part::Sum;
    damaged_bytes_are_a_miss("sum-length-plus-one", sum, set_u64(SUM_LEN_AT, |n| n + 1));
    damaged_bytes_are_a_miss("sum-length-minus-one", sum, set_u64(SUM_LEN_AT, |n| n - 1));
    damaged_bytes_are_a_miss(
        "sum-length-huge",
        sum,
        set_u64(SUM_LEN_AT, |n| n | (1 << 62)),
    );
}

#[test]
fn a_sum_file_with_a_wrong_magic_or_module_is_a_miss() {
    let sum = Part::Sum;
    damaged_bytes_are_a_miss("sum-magic", sum, flip_bit(|_| 0));
    // An older layout's version.
    damaged_bytes_are_a_miss("sum-version", sum, |b| b[7] = b'1');
    // The recorded module differs from the one loaded: a hash collision.
    damaged_bytes_are_a_miss("sum-module-last-byte", sum, flip_bit(|n| n - 1));
    damaged_bytes_are_a_miss("sum-module-extended", sum, |b| b.push(0));
    damaged_bytes_are_a_miss("sum-garbage", sum, |b| {
        *b = b"this is not a sum file".repeat(10)
    });
}

#[test]
fn a_corrupted_code_file_is_a_miss() {
    let code = Part::Code;
    damaged_bytes_are_a_miss("code-bit-in-middle", code, flip_bit(|n| n / 2));
    damaged_bytes_are_a_miss("code-bit-first", code, flip_bit(|_| 0));
    damaged_bytes_are_a_miss("code-bit-last", code, flip_bit(|n| n - 1));
    damaged_bytes_are_a_miss("code-garbage", code, |b| {
        *b = b"this is not compiled code".repeat(100)
    });
}

#[test]
fn a_truncated_or_extended_code_file_is_a_miss() {
    let code = Part::Code;
    damaged_bytes_are_a_miss("code-empty", code, |b| b.clear());
    damaged_bytes_are_a_miss("code-half", code, |b| b.truncate(b.len() / 2));
    damaged_bytes_are_a_miss("code-short-by-one", code, |b| {
        b.pop();
    });
    damaged_bytes_are_a_miss("code-extended", code, |b| b.push(0));
}

#[test]
fn a_missing_file_is_a_miss_and_rewritten() {
    for part in [Part::Code, Part::Sum] {
        let (dir, _) = replaced_file_is_a_miss("missing", part, |_| {});
        assert_eq!(source_within_bound(dir.path(), MODULE), CacheSource::Disk);
    }
}

#[test]
fn a_pair_written_for_other_module_bytes_is_a_miss() {
    // What a hash collision would look like: `add`'s good entry under the
    // names `fib`'s load opens. Using it would run `add` for `fib`.
    let (add_dir, add) = good_entry("collision-add", "add");
    let (dir, fib) = good_entry("collision-fib", MODULE);
    std::fs::copy(&add.code, &fib.code).unwrap();
    std::fs::copy(&add.sum, &fib.sum).unwrap();
    assert_eq!(
        source_within_bound(dir.path(), MODULE),
        CacheSource::Compiled
    );
    assert_eq!(source_within_bound(dir.path(), MODULE), CacheSource::Disk);
    drop(add_dir);
}

#[test]
fn a_symlink_in_place_of_a_cache_file_is_a_miss() {
    // Even to a good copy: sbx only ever renames files into place, so a
    // symlink is not one of its files.
    for part in [Part::Code, Part::Sum] {
        let saved = TempDir::new("cache-saved");
        let copy = saved.path().join("copy");
        let (dir, entry) = good_entry("symlink", MODULE);
        std::fs::copy(entry.path(part), &copy).unwrap();
        let before = std::fs::read(&copy).unwrap();
        std::fs::remove_file(entry.path(part)).unwrap();
        std::os::unix::fs::symlink(&copy, entry.path(part)).unwrap();
        assert_eq!(
            source_within_bound(dir.path(), MODULE),
            CacheSource::Compiled,
            "{part:?}"
        );
        // The rewrite replaced the link, and did not write through it.
        assert_eq!(source_within_bound(dir.path(), MODULE), CacheSource::Disk);
        Entry::of(dir.path());
        assert_eq!(std::fs::read(&copy).unwrap(), before);
    }
}

#[test]
fn a_fifo_in_place_of_a_cache_file_is_a_miss_not_a_hang() {
    for part in [Part::Code, Part::Sum] {
        let (dir, _) = replaced_file_is_a_miss("fifo", part, |path| {
            let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        });
        // The rewrite replaced the FIFO with a good file again.
        assert_eq!(source_within_bound(dir.path(), MODULE), CacheSource::Disk);
        Entry::of(dir.path());
    }
}

#[test]
fn a_directory_in_place_of_a_cache_file_is_a_miss_every_time() {
    for part in [Part::Code, Part::Sum] {
        let (dir, entry) =
            replaced_file_is_a_miss("dir", part, |path| std::fs::create_dir(path).unwrap());
        // Renaming a file over a directory fails, and sbx removes nothing
        // it did not write: every load is a miss, and works.
        assert_eq!(
            source_within_bound(dir.path(), MODULE),
            CacheSource::Compiled,
            "{part:?}"
        );
        assert!(entry.path(part).is_dir());
    }
}
