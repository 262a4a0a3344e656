//! Faults from outside the guest: a cache directory that fills up or turns
//! read-only mid-run, address space that runs out (mmap fails), and a
//! deadline thread that cannot be started. Limits that would disturb other
//! tests (setrlimit is per process) are set in a child process: this test
//! binary run again with `SBX_FAULT_CASE` on its ignored `child` test.

mod cabi;

use sbx::{CacheSource, Host, HostConfig, Status};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A module that differs per `n`, so each one is a fresh compile.
fn module(n: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
             (memory (export "memory") 1)
             (func (export "id") (result i32) (i32.const {n}))
             (func (export "spin") (loop $l (br $l))))"#
    ))
    .unwrap()
}

fn id(m: &sbx::Module) -> u64 {
    let mut out = [0u64];
    m.call(b"id", &[], &mut out, sbx::Timeout::HostDefault, None)
        .unwrap();
    out[0]
}

fn host(dir: &Path) -> Host {
    Host::new(HostConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..HostConfig::default()
    })
    .unwrap()
}

fn load(host: &Host, n: u32) -> CacheSource {
    let (m, source) = host
        .load_with("fault", &module(n), &sbx::LoadOptions::default())
        .unwrap();
    assert_eq!(id(&m), n as u64, "module {n} runs its own code");
    source
}

/// The cache files in `dir`, sorted; no temporary file may be among them.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in &names {
        assert!(
            name.ends_with(".cwasm") || name.ends_with(".sum") || name == "filler",
            "left behind: {name}"
        );
    }
    names
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sbx-fault-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// After the fault: the module cached before it is still a disk hit; the
/// ones compiled during it load and run, and a new host compiles them
/// afresh or finds them whole, never half-written.
fn after_fault(dir: &Path, before: u32, during: &[u32]) {
    let fresh = host(dir);
    assert_eq!(load(&fresh, before), CacheSource::Disk);
    for &n in during {
        // Compiled (nothing was written) or Disk (written whole before the
        // space ran out); `load` checks it runs its own code either way.
        load(&fresh, n);
    }
}

/// The cache directory fills up: writes past `RLIMIT_FSIZE` fail with
/// EFBIG, part-way through a file, as on a full disk. Loads go on,
/// uncached, and no partial file is ever read back.
#[test]
fn cache_dir_full() {
    let dir = TempDir::new("full");
    run_child("cache_full", &dir.0);
    let names = files(&dir.0);
    // Module 1's pair only: module 2's code never fitted.
    assert_eq!(names.len(), 2, "{names:?}");
    let fresh = host(&dir.0);
    assert_eq!(load(&fresh, 1), CacheSource::Disk);
    assert_eq!(load(&fresh, 2), CacheSource::Compiled);
}

fn cache_full_child(dir: &Path) {
    let h = host(dir);
    assert_eq!(load(&h, 1), CacheSource::Compiled);
    let before = files(dir).len();
    assert_eq!(before, 2);
    // SAFETY: plain libc calls; this process is the child alone.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let limit = libc::rlimit {
            rlim_cur: 1024,
            rlim_max: libc::RLIM_INFINITY,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
    assert_eq!(load(&h, 2), CacheSource::Compiled);
    assert_eq!(load(&h, 2), CacheSource::Memory);
    assert_eq!(load(&host(dir), 2), CacheSource::Compiled);
    assert_eq!(files(dir).len(), 2);
}

/// The cache directory is a 1 MiB tmpfs that fills up (ENOSPC part-way
/// through a file) and is then remounted read-only (EROFS). Needs root for
/// the mounts; without it the directory is made read-only by its mode.
#[test]
fn cache_dir_tmpfs_full_then_read_only() {
    let dir = TempDir::new("tmpfs");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mounted = root && mount(&["-t", "tmpfs", "-o", "size=1m", "tmpfs"], &dir.0);
    assert_eq!(mounted, root, "root could not mount a tmpfs");
    let _unmount = Unmount(mounted.then(|| dir.0.clone()));

    let h = host(&dir.0);
    assert_eq!(load(&h, 1), CacheSource::Compiled);
    let code_len = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .max()
        .unwrap();
    if mounted {
        // Leave less room than one compiled module needs.
        let free = free_bytes(&dir.0);
        let filler = free.saturating_sub(code_len / 2);
        std::fs::write(dir.0.join("filler"), vec![0u8; filler as usize]).unwrap();
        assert_eq!(load(&h, 2), CacheSource::Compiled);
        assert!(mount(&["-o", "remount,ro"], &dir.0), "remount read-only");
    } else {
        set_mode(&dir.0, 0o500);
        assert_eq!(load(&h, 2), CacheSource::Compiled);
    }
    assert_eq!(load(&h, 3), CacheSource::Compiled);
    after_fault(&dir.0, 1, &[2, 3]);
    // Module 1's pair (and the filler): nothing of modules 2 and 3.
    let names = files(&dir.0);
    assert_eq!(names.len(), 2 + mounted as usize, "{names:?}");
    if !mounted {
        set_mode(&dir.0, 0o700);
    }
}

fn free_bytes(dir: &Path) -> u64 {
    let path = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a NUL-terminated path and a statvfs to fill.
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) }, 0);
    let st = unsafe { st.assume_init() };
    st.f_bavail * st.f_frsize
}

fn set_mode(dir: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mount(args: &[&str], dir: &Path) -> bool {
    Command::new("mount")
        .args(args)
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

struct Unmount(Option<PathBuf>);

impl Drop for Unmount {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = Command::new("umount").arg(dir).status();
        }
    }
}

/// Address space runs out (`RLIMIT_AS`): a pooled host cannot reserve its
/// pool and an on-demand host cannot reserve a module's memory. Both fail
/// with a status; the process goes on.
#[test]
fn mmap_fails() {
    let dir = TempDir::new("mmap");
    run_child("mmap", &dir.0);
}

/// Lowers the address-space limit to what is mapped now plus `extra`.
fn limit_address_space(extra: u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let vm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    set_address_space(vm_kib * 1024 + extra);
}

fn set_address_space(bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a plain setrlimit on this (child) process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
}

fn mmap_child() {
    let wasm = module(7);
    limit_address_space(256 << 20);
    // A pool of 8 slots reserves 8 x (4 GiB + 32 MiB).
    let pooled = cabi::Host::new(&cabi::Config::new().pooling(true).max_modules(8));
    let Err(failure) = pooled else {
        panic!("a pool fitted in 256 MiB");
    };
    assert_eq!(failure.status, Status::ResourceLimit, "{}", failure.message);
    assert!(
        failure.message.contains("mmap failed to reserve"),
        "{}",
        failure.message
    );
    let host = cabi::Host::new(&cabi::Config::new()).expect("an on-demand host needs no pool");
    // A memory reserves 4 GiB plus guards.
    let loaded = host.load("mmap", &wasm, 0, None);
    let Err(failure) = loaded else {
        panic!("a 4 GiB reservation fitted");
    };
    assert_eq!(failure.status, Status::ResourceLimit, "{}", failure.message);
    // With the address space back, the same host loads it.
    set_address_space(libc::RLIM_INFINITY);
    let m = host.load("mmap", &wasm, 0, None).unwrap();
    assert_eq!(m.call("id", &[], 1, 0, None).unwrap(), [7]);
}

/// The deadline thread cannot be started (no address space for its
/// stack): the call fails with a status, and once threads can be made
/// again deadlines work.
#[test]
fn deadline_thread_spawn_fails() {
    let dir = TempDir::new("spawn");
    run_child("spawn", &dir.0);
}

fn spawn_child() {
    let host = cabi::Host::new(&cabi::Config::new()).unwrap();
    let m = host.load("spawn", &module(5), 0, None).unwrap();
    // No deadline has been armed in this process yet, so the timer thread
    // does not exist; the call below is the one that must start it.
    limit_address_space(512 << 10);
    let first = m.call("spin", &[], 0, 50_000_000, None);
    set_address_space(libc::RLIM_INFINITY);
    let failure = first.expect_err("a spin without a timer cannot return OK");
    // As for a compile thread that cannot start: a capacity, retry later.
    assert_eq!(failure.status, Status::InstanceLimit, "{}", failure.message);
    // Deadlines work again, on this thread and on others.
    for on_this_thread in [true, false] {
        let began = Instant::now();
        let call = || m.call("spin", &[], 0, 50_000_000, None);
        let got = if on_this_thread {
            call()
        } else {
            std::thread::scope(|s| s.spawn(call).join().unwrap())
        };
        assert_eq!(got.map_err(|e| e.status), Err(Status::Timeout));
        assert!(began.elapsed() < Duration::from_secs(5));
    }
}

/// Runs this binary's `child` test with `SBX_FAULT_CASE=case`; fails if it
/// does not finish within 60 s or does not report success.
fn run_child(case: &str, dir: &Path) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SBX_FAULT_CASE", case)
        .env("SBX_FAULT_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > until {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{case}: child hung for 60 s\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("fault case {case} passed")),
        "{case}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "the child side of the fault tests, run by run_child"]
fn child() {
    let case = std::env::var("SBX_FAULT_CASE").expect("run by run_child");
    let dir = PathBuf::from(std::env::var("SBX_FAULT_DIR").unwrap());
    match case.as_str() {
        "cache_full" => cache_full_child(&dir),
        "mmap" => mmap_child(),
        "spawn" => spawn_child(),
        other => panic!("unknown case {other}"),
    }
    println!("fault case {case} passed");
}
