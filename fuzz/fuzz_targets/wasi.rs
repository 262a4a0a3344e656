//! A fixed WASI guest (fixtures/wasi_paths.wat) driven by fuzzed paths and
//! flags against a writable preopen full of symlinks that point outside it.
//! Nothing outside the preopen may ever be read or changed: the outside
//! secret never reaches the guest's memory (not its contents, its name or
//! its inode number), and the tree around the preopen is the same after
//! every input.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sbx_fuzz::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::ptr::null;
use std::sync::LazyLock;

struct World {
    _root: TempDir,
    sandbox: PathBuf,
    /// `<root>/a`, with `outside/` and `a/b/sandbox/` below it: every level
    /// a `..` can reach from the preopen is inside the snapshot.
    watched: PathBuf,
    outside: PathBuf,
    /// The outside files' contents. Random per process, so no corpus entry
    /// can contain it (the fuzzer may still learn it from the comparison
    /// below: an input that hands it to the guest is not checked for it).
    token: String,
    /// A file name the guest may learn: its paths can name it (`@secret`)
    /// and the `secret` symlink in the preopen spells it.
    secret_name: String,
    /// The name of an outside file nothing inside the preopen names: only
    /// a listing of the outside directory could show it.
    hidden_name: String,
    outside_inodes: Vec<u64>,
    snapshot: BTreeMap<PathBuf, String>,
    host: HostPtr,
    wasi: Wasi,
    wasm: Vec<u8>,
}

struct HostPtr(*mut sbx_host);
// SAFETY: the fuzz target runs on one thread; sbx hosts are thread-safe.
unsafe impl Send for World {}
unsafe impl Sync for World {}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let root = TempDir::new("wasi");
    let watched = root.0.join("a");
    let outside = watched.join("outside");
    let sandbox = watched.join("b").join("sandbox");
    fs::create_dir_all(&sandbox).unwrap();
    fs::create_dir_all(outside.join("sub")).unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let token = format!("SECRET{:x}{:x}", nanos, std::process::id());
    let secret_name = format!("secret_{:x}", nanos.rotate_left(64));
    let hidden_name = format!("HIDDEN{:x}{:x}", nanos, std::process::id());
    fs::write(outside.join(&secret_name), &token).unwrap();
    fs::write(outside.join(&hidden_name), &token).unwrap();
    fs::write(outside.join("sub").join("f"), &token).unwrap();
    fs::write(outside.join("writable"), &token).unwrap();
    let outside_inodes = [
        secret_name.as_str(),
        hidden_name.as_str(),
        "sub/f",
        "writable",
        "sub",
        ".",
    ]
    .iter()
    .map(|p| fs::symlink_metadata(outside.join(p)).unwrap().ino())
    .collect();
    let mut wasi = Wasi::new();
    assert_eq!(wasi.preopen(&sandbox, ".", true), Status::Ok);
    let host = host_new(&HostSettings {
        fuel: 10_000_000,
        exec_timeout_ns: 1_000_000_000,
        ..Default::default()
    });
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/wasi_paths.wat");
    let mut world = World {
        sandbox,
        outside,
        token,
        secret_name,
        hidden_name,
        outside_inodes,
        snapshot: BTreeMap::new(),
        host: HostPtr(host),
        wasi,
        wasm: wat::parse_file(src).expect("wasi_paths.wat"),
        watched,
        _root: root,
    };
    world.reset_sandbox();
    world.snapshot = snapshot(&world.watched, &world.sandbox);
    world
});

/// Every entry under `dir` but inside `skip`: type, size, mode, mtime,
/// link target and contents.
fn snapshot(dir: &Path, skip: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p == skip {
                continue; // the preopen itself changes as the guest works in it
            }
            let m = fs::symlink_metadata(&p).unwrap();
            let mut desc = format!(
                "{:?} {} {:o} {}.{} {}",
                m.file_type(),
                m.len(),
                m.mode(),
                m.mtime(),
                m.mtime_nsec(),
                m.nlink()
            );
            if m.file_type().is_symlink() {
                desc += &format!(" -> {:?}", fs::read_link(&p).unwrap());
            } else if m.is_file() {
                desc += &format!(" {:?}", fs::read(&p).unwrap());
            }
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.insert(p, desc);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|win| win == needle)
}

impl World {
    /// The preopen's contents, afresh: files, a directory, and symlinks
    /// that lead out relatively, absolutely, through a parent and in loops.
    fn reset_sandbox(&self) {
        let s = &self.sandbox;
        for e in fs::read_dir(s).unwrap() {
            let p = e.unwrap().path();
            if fs::symlink_metadata(&p).unwrap().is_dir() {
                fs::remove_dir_all(&p).unwrap();
            } else {
                fs::remove_file(&p).unwrap();
            }
        }
        fs::write(s.join("file.txt"), "inside\n").unwrap();
        fs::create_dir(s.join("dir")).unwrap();
        fs::write(s.join("dir/inner.txt"), "inner\n").unwrap();
        symlink("../../outside", s.join("out")).unwrap();
        symlink(&self.outside, s.join("abs")).unwrap();
        symlink(
            format!("../../outside/{}", self.secret_name),
            s.join("secret"),
        )
        .unwrap();
        symlink(self.outside.join("writable"), s.join("writable")).unwrap();
        symlink("../..", s.join("dir/up")).unwrap();
        symlink("loop", s.join("loop")).unwrap();
        symlink(".", s.join("self")).unwrap();
        symlink("dir/up/../outside", s.join("chain")).unwrap();
    }
}

const WORDS: &[&str] = &[
    ".",
    "..",
    "out",
    "abs",
    "secret",
    "writable",
    "dir",
    "up",
    "loop",
    "self",
    "chain",
    "file.txt",
    "inner.txt",
    "new",
    "sub",
    "f",
    "@secret",
    "",
    "/",
    "outside",
    "sandbox",
    "b",
];

#[derive(Arbitrary, Debug)]
enum Seg {
    Word(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct FuzzPath {
    absolute: bool,
    segs: Vec<Seg>,
}

impl FuzzPath {
    fn bytes(&self, w: &World) -> Vec<u8> {
        let segs: Vec<String> = self
            .segs
            .iter()
            .take(12)
            .map(|s| match s {
                Seg::Word(i) => match WORDS[*i as usize % WORDS.len()] {
                    "@secret" => w.secret_name.clone(),
                    word => word.to_owned(),
                },
                Seg::Raw(s) => s.chars().take(32).collect(),
            })
            .collect();
        let mut p = segs.join("/");
        if self.absolute {
            p.insert(0, '/');
        }
        let mut b = p.into_bytes();
        b.truncate(0x400);
        b
    }
}

#[derive(Arbitrary, Debug)]
struct Op {
    kind: u8,
    a: FuzzPath,
    b: FuzzPath,
    /// Mostly follow symlinks (the dangerous case), sometimes anything.
    flags: Option<u32>,
    oflags: u16,
    rights: Option<u64>,
    fdflags: u16,
    mode: u8,
    time: i64,
}

fuzz_target!(|ops: Vec<Op>| {
    let w = &*WORLD;
    w.reset_sandbox();
    let module = load(
        w.host.0,
        b"wasi",
        &w.wasm,
        &Load {
            wasi: Some(&w.wasi),
            ..Default::default()
        },
    )
    .unwrap_or_else(|f| panic!("load: {f:?}"));
    let ops = &ops[..ops.len().min(16)];
    // What the guest finds in its memory must not be something its inputs
    // told it: a path can spell a symlink target the guest then reads back.
    let paths: Vec<(Vec<u8>, Vec<u8>)> = ops
        .iter()
        .map(|op| (op.a.bytes(w), op.b.bytes(w)))
        .collect();
    let told = |secret: &str| {
        let s = secret.as_bytes();
        paths.iter().any(|(a, b)| contains(a, s) || contains(b, s))
    };
    let secrets: Vec<&str> = [w.token.as_str(), w.hidden_name.as_str()]
        .into_iter()
        .filter(|s| !told(s))
        .collect();
    for (op, (a, b)) in ops.iter().zip(&paths) {
        let (a, b) = (a.clone(), b.clone());
        assert_eq!(memory_write(module, 0x100, &a), Status::Ok);
        assert_eq!(memory_write(module, 0x600, &b), Status::Ok);
        assert_eq!(memory_write(module, 0x1000, &[0; 0x1000]), Status::Ok);
        let params = [
            (op.kind % 10) as u64,
            op.flags.unwrap_or(1) as u64,
            a.len() as u64,
            b.len() as u64,
            op.oflags as u64,
            // Every preview-1 right, or any bits at all.
            op.rights.unwrap_or((1 << 29) - 1),
            op.fdflags as u64,
            op.mode as u64,
            op.time as u64,
        ];
        // Flags or rights with undefined bits make wasmtime-wasi trap
        // rather than return EINVAL: a trap is still a contained outcome.
        let errno = match call(module, b"op", &params, 1, 0, null()) {
            Ok(errno) => errno,
            Err(f) if f.status == Status::Trap => vec![u64::MAX],
            Err(f) => panic!("op {op:?}: {f:?}"),
        };
        let out = memory_read(module, 0x1000, 0x1000).unwrap();
        for secret in &secrets {
            assert!(
                !contains(&out, secret.as_bytes()),
                "the outside secret {secret:?} reached the guest: {op:?} ({:?} {:?})",
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b)
            );
        }
        // path_filestat_get: filestat is dev u64, ino u64, ...
        if op.kind % 10 == 8 && errno == [0] {
            let ino = u64::from_le_bytes(out[8..16].try_into().unwrap());
            assert!(
                !w.outside_inodes.contains(&ino),
                "stat reached outside: {:?}",
                String::from_utf8_lossy(&a)
            );
        }
    }
    module_free(module);
    let now = snapshot(&w.watched, &w.sandbox);
    if now != w.snapshot {
        let changed: Vec<_> = now
            .iter()
            .filter(|(k, v)| w.snapshot.get(*k) != Some(v))
            .chain(w.snapshot.iter().filter(|(k, _)| !now.contains_key(*k)))
            .collect();
        panic!("outside the preopen changed: {changed:?} after {ops:?}");
    }
});
