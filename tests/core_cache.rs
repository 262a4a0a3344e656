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
    assert!(std::fs::metadata(&file).unwrap().len() > 48);
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

/// Writes a cache file with one host, damages it, and checks that a new
/// host treats it as a miss, works, and repairs the file.
fn damaged_file_is_a_miss(tag: &str, damage: impl Fn(&mut Vec<u8>)) {
    let dir = TempDir::new(tag);
    assert_eq!(
        source_of(&cached_host(dir.path(), Limits::default()), "fib"),
        CacheSource::Compiled
    );
    let file = only_cache_file(dir.path());
    let mut bytes = std::fs::read(&file).unwrap();
    damage(&mut bytes);
    std::fs::write(&file, &bytes).unwrap();
    let host = cached_host(dir.path(), Limits::default());
    assert_eq!(source_of(&host, "fib"), CacheSource::Compiled, "{tag}");
    // The recompile rewrote the file, so the next host hits it.
    assert_eq!(
        source_of(&cached_host(dir.path(), Limits::default()), "fib"),
        CacheSource::Disk,
        "{tag}: repaired"
    );
}

#[test]
fn a_truncated_cache_file_is_a_miss() {
    damaged_file_is_a_miss("truncated", |bytes| bytes.truncate(bytes.len() / 2));
    damaged_file_is_a_miss("truncated-by-one", |bytes| {
        bytes.pop();
    });
    damaged_file_is_a_miss("header-only", |bytes| bytes.truncate(48));
    damaged_file_is_a_miss("empty", |bytes| bytes.clear());
}

#[test]
fn a_corrupted_cache_file_is_a_miss() {
    damaged_file_is_a_miss("flipped-middle", |bytes| {
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 16] {
            *b ^= 0xa5;
        }
    });
    damaged_file_is_a_miss("flipped-checksum", |bytes| bytes[20] ^= 1);
    damaged_file_is_a_miss("flipped-length", |bytes| bytes[8] ^= 1);
    damaged_file_is_a_miss("bad-magic", |bytes| bytes[0] = b'X');
    damaged_file_is_a_miss("appended", |bytes| bytes.extend_from_slice(b"extra"));
}

#[test]
fn a_garbage_cache_file_is_a_miss() {
    damaged_file_is_a_miss("garbage", |bytes| {
        *bytes = b"this is not a compiled module".repeat(100)
    });
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
    // Code compiled without fuel checks, planted where a fuel-metered host
    // looks: the host must not run it (it would loop forever), but recompile.
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
    let foreign = std::fs::read(only_cache_file(plain.path())).unwrap();
    std::fs::write(only_cache_file(metered.path()), foreign).unwrap();

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

/// Replaces each cache file of `dir` (the `.cwasm` and its `.sum`) with what
/// `replace` makes at that path.
fn replace_cache_files(dir: &Path, replace: impl Fn(&Path)) {
    let code = only_cache_file(dir);
    for path in [code.clone(), code.with_extension("sum")] {
        std::fs::remove_file(&path).unwrap();
        replace(&path);
    }
}

/// Loads `add` on a fresh host over `dir` from another thread, failing
/// (rather than hanging) if the load does not finish in a generous bound.
fn source_within_bound(dir: &Path) -> CacheSource {
    let dir = dir.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(source_of(&cached_host(&dir, Limits::default()), "add"));
    });
    rx.recv_timeout(ms(60_000))
        .expect("the load blocked on a cache file")
}

#[test]
fn a_fifo_in_place_of_a_cache_file_is_a_miss_not_a_hang() {
    let dir = TempDir::new("cache-fifo");
    assert_eq!(
        source_of(&cached_host(dir.path(), Limits::default()), "add"),
        CacheSource::Compiled
    );
    replace_cache_files(dir.path(), |path| {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    });
    assert_eq!(source_within_bound(dir.path()), CacheSource::Compiled);
    // The compile replaced the FIFOs with good files again.
    assert_eq!(source_within_bound(dir.path()), CacheSource::Disk);
}

#[test]
fn a_directory_or_symlink_in_place_of_a_cache_file_is_a_miss() {
    let dir = TempDir::new("cache-dir");
    assert_eq!(
        source_of(&cached_host(dir.path(), Limits::default()), "add"),
        CacheSource::Compiled
    );
    // A symlink to a good copy is still not a file sbx wrote.
    let saved = TempDir::new("cache-saved");
    let code = only_cache_file(dir.path());
    for path in [code.clone(), code.with_extension("sum")] {
        let copy = saved.path().join(path.file_name().unwrap());
        std::fs::copy(&path, &copy).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&copy, &path).unwrap();
    }
    assert_eq!(source_within_bound(dir.path()), CacheSource::Compiled);
    replace_cache_files(dir.path(), |path| std::fs::create_dir(path).unwrap());
    // Renaming over a directory fails, so every load is a miss, and works.
    assert_eq!(source_within_bound(dir.path()), CacheSource::Compiled);
    assert_eq!(source_within_bound(dir.path()), CacheSource::Compiled);
}
