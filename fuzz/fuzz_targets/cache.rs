//! Arbitrary contents and corruptions of the files in a cache directory
//! (src/cache.rs: `<stem>.cwasm` and its `<stem>.sum`). Every load must be a
//! hit with the right results or a miss that compiles afresh: never a
//! failure, a hang, a crash or another module's code.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sbx_fuzz::*;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

const CACHED: &[&str] = &["add", "fib", "all_types"];

/// A fixture's cache files as sbx writes them.
struct Pristine {
    wasm: Vec<u8>,
    code_name: String,
    code: Vec<u8>,
    sum_name: String,
    sum: Vec<u8>,
}

/// The files each fixture leaves in an empty cache directory.
static PRISTINE: LazyLock<Vec<Pristine>> = LazyLock::new(|| {
    CACHED
        .iter()
        .map(|name| {
            let dir = TempDir::new("cache-seed");
            let wasm = fixture(name);
            let host = host_new(&settings(&dir.0));
            module_free(load(host, b"seed", &wasm, &Load::default()).expect("load"));
            host_close(host);
            let mut files: Vec<PathBuf> = fs::read_dir(&dir.0)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            assert_eq!(files.len(), 2, "one .cwasm and one .sum: {files:?}");
            let file_name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_owned();
            Pristine {
                wasm,
                code_name: file_name(&files[0]),
                code: fs::read(&files[0]).unwrap(),
                sum_name: file_name(&files[1]),
                sum: fs::read(&files[1]).unwrap(),
            }
        })
        .collect()
});

/// The directory every input works in, emptied first.
static DIR: LazyLock<TempDir> = LazyLock::new(|| TempDir::new("cache"));

fn settings(dir: &Path) -> HostSettings {
    HostSettings {
        cache_dir: Some(dir.to_path_buf()),
        ..Default::default()
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum File {
    Code,
    Sum,
}

#[derive(Arbitrary, Debug)]
enum Corruption {
    Truncate(File, u32),
    Flip(File, u32, u8),
    Overwrite(File, u32, Vec<u8>),
    Replace(File, Vec<u8>),
    Append(File, Vec<u8>),
    Delete(File),
    /// The other file of the pair, or the same file of another fixture.
    SymlinkToSibling(File),
    SymlinkDangling(File),
    Directory(File),
    Fifo(File),
    Unreadable(File),
    /// Another fixture's file under this fixture's name.
    Foreign(File, u8),
    /// A well-formed `.sum` header for this code, but another module's bytes.
    SumOfOtherModule(u8),
    /// A stray file with an arbitrary name.
    Stray(String, Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    fixture: u8,
    corruptions: Vec<Corruption>,
    /// The pair starts out absent rather than pristine.
    start_empty: bool,
}

fn path(dir: &Path, p: &Pristine, f: File) -> PathBuf {
    dir.join(match f {
        File::Code => &p.code_name,
        File::Sum => &p.sum_name,
    })
}

/// Removes whatever is at `path`, without following a symlink.
fn remove(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
}

fn reset(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        remove(&entry.unwrap().path());
    }
}

/// A regular file's bytes; nothing for anything else (a FIFO would block).
fn read(path: &Path) -> Vec<u8> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => fs::read(path).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn write(path: &Path, bytes: &[u8]) {
    remove(path);
    let _ = fs::write(path, bytes);
}

fn apply(dir: &Path, p: &Pristine, c: &Corruption) {
    let all = &*PRISTINE;
    match c {
        Corruption::Truncate(f, n) => {
            let path = path(dir, p, *f);
            let mut b = read(&path);
            b.truncate(*n as usize % (b.len() + 1));
            write(&path, &b);
        }
        Corruption::Flip(f, at, mask) => {
            let path = path(dir, p, *f);
            let mut b = read(&path);
            if !b.is_empty() {
                let i = *at as usize % b.len();
                b[i] ^= mask.max(&1);
                write(&path, &b);
            }
        }
        Corruption::Overwrite(f, at, bytes) => {
            let path = path(dir, p, *f);
            let mut b = read(&path);
            let at = *at as usize % (b.len() + 1);
            let end = (at + bytes.len()).min(b.len());
            b[at..end].copy_from_slice(&bytes[..end - at]);
            write(&path, &b);
        }
        Corruption::Replace(f, bytes) => write(&path(dir, p, *f), bytes),
        Corruption::Append(f, bytes) => {
            let path = path(dir, p, *f);
            let mut b = read(&path);
            b.extend_from_slice(bytes);
            write(&path, &b);
        }
        Corruption::Delete(f) => remove(&path(dir, p, *f)),
        Corruption::SymlinkToSibling(f) => {
            let (from, to) = match f {
                File::Code => (&p.code_name, &p.sum_name),
                File::Sum => (&p.sum_name, &p.code_name),
            };
            // A symlink to a pristine copy: still never followed.
            let copy = dir.join(format!("{to}.copy"));
            let _ = fs::write(&copy, read(&dir.join(from)));
            remove(&dir.join(from));
            let _ = symlink(&copy, dir.join(from));
        }
        Corruption::SymlinkDangling(f) => {
            let path = path(dir, p, *f);
            remove(&path);
            let _ = symlink(dir.join("nowhere"), &path);
        }
        Corruption::Directory(f) => {
            let path = path(dir, p, *f);
            remove(&path);
            let _ = fs::create_dir(&path);
        }
        Corruption::Fifo(f) => {
            let path = path(dir, p, *f);
            remove(&path);
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: a NUL-terminated path.
            unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        }
        Corruption::Unreadable(f) => {
            let path = path(dir, p, *f);
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o000));
        }
        Corruption::Foreign(f, other) => {
            let o = &all[*other as usize % all.len()];
            let bytes = match f {
                File::Code => &o.code,
                File::Sum => &o.sum,
            };
            write(&path(dir, p, *f), bytes);
        }
        Corruption::SumOfOtherModule(other) => {
            let o = &all[*other as usize % all.len()];
            let sum_path = path(dir, p, File::Sum);
            let mut b = read(&sum_path);
            if b.len() >= 24 {
                b.truncate(24);
                b.extend_from_slice(&o.wasm);
                write(&sum_path, &b);
            }
        }
        Corruption::Stray(name, bytes) => {
            let name: String = name
                .chars()
                .filter(|c| *c != '/' && *c != '\0')
                .take(64)
                .collect();
            if !name.is_empty() && name != "." && name != ".." {
                write(&dir.join(name), bytes);
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let all = &*PRISTINE;
    let which = input.fixture as usize % all.len();
    let p = &all[which];
    let probe_spec = FIXTURES
        .iter()
        .find(|(n, _)| *n == CACHED[which])
        .and_then(|(_, p)| p.as_ref())
        .unwrap();
    let dir = &DIR.0;
    reset(dir);
    if !input.start_empty {
        fs::write(dir.join(&p.code_name), &p.code).unwrap();
        fs::write(dir.join(&p.sum_name), &p.sum).unwrap();
    }
    for c in input.corruptions.iter().take(8) {
        apply(dir, p, c);
    }
    // Twice: what the first load left behind must serve the second.
    for _ in 0..2 {
        let host = host_new(&settings(dir));
        let module = load(host, b"cached", &p.wasm, &Load::default())
            .unwrap_or_else(|f| panic!("a load through a corrupt cache failed: {f:?}"));
        probe(module, probe_spec);
        module_free(module);
        host_close(host);
    }
});
