//! The process-wide deadline timer leaves no work behind. In its own test
//! binary, because `queued_deadlines` counts every host in the process.

mod common;

use common::*;
use sbx::{queued_deadlines, Limits, Status, Timeout};
use std::sync::Mutex;
use std::time::Duration;

/// The tests here count the whole process's deadlines and address space.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn queued_deadlines_drain_after_calls_end() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let host = default_host();
    let looping = load(&host, "infinite_loop");
    let add = load(&host, "add");
    for _ in 0..10 {
        let err = call_with(&looping, "loop", &[], Timeout::After(ms(20))).fails();
        assert_eq!(err.status(), Status::Timeout);
    }
    // Quick calls with short deadlines leave entries that expire on their own.
    for i in 0..50 {
        assert_eq!(
            call_with(&add, "add", &[i, 1], Timeout::After(ms(30))).unwrap(),
            vec![i + 1]
        );
    }
    // Calls without a deadline never queue anything.
    for i in 0..50 {
        call_with(&add, "add", &[i, 1], Timeout::Never).unwrap();
    }
    let drained = eventually(Duration::from_secs(2), || queued_deadlines() == 0);
    assert!(drained, "{} deadlines still queued", queued_deadlines());
    // Calls without a deadline after draining leave the queue empty.
    for i in 0..20 {
        call_with(&add, "add", &[i, 1], Timeout::Never).unwrap();
    }
    assert_eq!(queued_deadlines(), 0);
}

/// The process's mapped address space (VmSize), in bytes.
#[cfg(target_os = "linux")]
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// A finished call's deadline stays queued until it falls due, but it does
/// not keep its host alive: closing a pooled host gives the pool's whole
/// reservation back at once, not when the deadline would have fired.
#[cfg(target_os = "linux")]
#[test]
fn a_queued_deadline_does_not_keep_a_closed_host() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let before = vm_size();
    let host = host_with(Limits {
        pooling: true,
        max_modules: 4,
        ..Limits::default()
    });
    let reserved = vm_size().saturating_sub(before);
    assert!(
        reserved >= 4 << 30,
        "the pool reserved only {reserved} bytes"
    );
    let add = load(&host, "add");
    let timeout = Timeout::After(Duration::from_secs(2));
    assert_eq!(call_with(&add, "add", &[1, 2], timeout).unwrap(), vec![3]);
    add.close();
    drop(add);
    host.close();
    drop(host);
    assert!(queued_deadlines() >= 1, "the deadline fell due already");
    let kept = vm_size().saturating_sub(before);
    assert!(
        kept < reserved / 4,
        "{kept} of the pool's {reserved} bytes still mapped after close"
    );
    // The entry itself goes when it falls due.
    let drained = eventually(Duration::from_secs(5), || queued_deadlines() == 0);
    assert!(drained, "{} deadlines still queued", queued_deadlines());
}
