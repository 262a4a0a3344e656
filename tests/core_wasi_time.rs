//! A guest that blocks in WASI (`poll_oneoff` on a clock) instead of looping
//! is bounded exactly like guest code: deadline, interrupt, cancel token and
//! close all end the sleep. The guest is testdata/wasi/sleep.wat.

use sbx::{Host, HostConfig, LoadOptions, Module, Status, Timeout, WasiConfig};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const EIGHT_SECONDS: u64 = 8_000_000_000;
const EINVAL: u64 = 28;
/// How long past its cause a stop may take here (the machine is shared and
/// loaded; the tight bound is measured by `cargo bench --bench overshoot`).
const SLACK: Duration = Duration::from_secs(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn host() -> Host {
    Host::new(HostConfig {
        wasi: Some(WasiConfig {
            stdin: b"ready".as_slice().into(),
            ..WasiConfig::default()
        }),
        ..HostConfig::default()
    })
    .unwrap()
}

fn sleeper(host: &Host) -> Module {
    let wasm =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/wasi/sleep.wasm"))
            .expect("read sleep.wasm");
    host.load_with("sleep", &wasm, &LoadOptions::default())
        .expect("load sleep.wasm")
        .0
}

/// Calls `sleep(ns)`; returns the errno it returned.
fn sleep(module: &Module, ns: u64, timeout: Timeout) -> sbx::Result<u64> {
    let mut errno = [0];
    module.call(b"sleep", &[ns], &mut errno, timeout, None)?;
    Ok(errno[0])
}

fn read_u64(module: &Module, at: u64) -> u64 {
    let mut b = [0; 8];
    module.memory_read(at, &mut b).unwrap();
    u64::from_le_bytes(b)
}

fn read_u32(module: &Module, at: u64) -> u32 {
    let mut b = [0; 4];
    module.memory_read(at, &mut b).unwrap();
    u32::from_le_bytes(b)
}

/// Writes one clock subscription at `at`, as the WASI p1 ABI lays it out.
fn write_clock(module: &Module, at: u64, userdata: u64, id: u32, ns: u64, flags: u16) {
    let mut sub = [0u8; 48];
    sub[0..8].copy_from_slice(&userdata.to_le_bytes());
    sub[8] = 0;
    sub[16..20].copy_from_slice(&id.to_le_bytes());
    sub[24..32].copy_from_slice(&ns.to_le_bytes());
    sub[40..42].copy_from_slice(&flags.to_le_bytes());
    module.memory_write(at, &sub).unwrap();
}

/// Calls the raw `poll(subs, events, n, nevents)` export; returns the errno.
fn poll(module: &Module, args: [u64; 4]) -> sbx::Result<u64> {
    let mut errno = [0];
    module.call(b"poll", &args, &mut errno, Timeout::After(ms(20_000)), None)?;
    Ok(errno[0])
}

#[test]
fn sleep_past_the_deadline_times_out_at_the_deadline() {
    let host = host();
    let module = sleeper(&host);
    let start = Instant::now();
    let err = sleep(&module, EIGHT_SECONDS, Timeout::After(ms(300))).unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.status(), Status::Timeout, "{err}");
    assert!(took >= ms(300), "stopped early: {took:?}");
    assert!(took < ms(300) + SLACK, "took {took:?}");
}

#[test]
fn host_default_timeout_bounds_a_sleep_too() {
    let host = Host::new(HostConfig {
        limits: sbx::Limits {
            exec_timeout: Some(ms(200)),
            ..Default::default()
        },
        wasi: Some(WasiConfig::default()),
        ..HostConfig::default()
    })
    .unwrap();
    let module = sleeper(&host);
    let start = Instant::now();
    let err = sleep(&module, EIGHT_SECONDS, Timeout::HostDefault).unwrap_err();
    assert_eq!(err.status(), Status::Timeout, "{err}");
    assert!(
        start.elapsed() < ms(200) + SLACK,
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn module_stays_usable_after_a_timed_out_sleep() {
    let host = host();
    let module = sleeper(&host);
    let err = sleep(&module, EIGHT_SECONDS, Timeout::After(ms(50))).unwrap_err();
    assert_eq!(err.status(), Status::Timeout);
    assert_eq!(sleep(&module, 1_000_000, Timeout::After(ms(20_000))), Ok(0));
    assert_eq!(read_u32(&module, 512), 1, "one event");
}

#[test]
fn a_sleep_shorter_than_the_deadline_sleeps_its_full_length() {
    let host = host();
    let module = sleeper(&host);
    let start = Instant::now();
    assert_eq!(
        sleep(&module, 100_000_000, Timeout::After(ms(2_000))),
        Ok(0)
    );
    let took = start.elapsed();
    assert!(took >= ms(100), "woke early: {took:?}");
    assert!(took < ms(100) + SLACK, "took {took:?}");
    // One clock event: userdata, errno 0, type 0 (clock), nbytes 0.
    assert_eq!(read_u32(&module, 512), 1);
    assert_eq!(read_u64(&module, 256), 0x5151);
    let mut errno_and_type = [0xff; 3];
    module.memory_read(256 + 8, &mut errno_and_type).unwrap();
    assert_eq!(errno_and_type, [0, 0, 0]);
    assert_eq!(read_u64(&module, 256 + 16), 0);
}

#[test]
fn a_sleep_without_any_deadline_sleeps_its_full_length() {
    let host = host();
    let module = sleeper(&host);
    let start = Instant::now();
    assert_eq!(sleep(&module, 50_000_000, Timeout::Never), Ok(0));
    assert!(
        start.elapsed() >= ms(50),
        "woke early: {:?}",
        start.elapsed()
    );
}

/// Runs `sleep(8 s)` on another thread with no deadline, waits 300 ms, then
/// runs `stop`; returns the call's result and how long after `stop` began
/// it returned.
fn stop_a_sleeper(module: &Module, stop: impl FnOnce()) -> (sbx::Result<u64>, Duration) {
    let runner = module.clone();
    let worker = thread::spawn(move || {
        let result = sleep(&runner, EIGHT_SECONDS, Timeout::Never);
        (result, Instant::now())
    });
    thread::sleep(ms(300));
    let stopped = Instant::now();
    stop();
    let (result, returned) = worker.join().unwrap();
    (result, returned.saturating_duration_since(stopped))
}

#[test]
fn interrupt_wakes_a_sleeping_guest() {
    let host = host();
    let module = sleeper(&host);
    let (result, after) = stop_a_sleeper(&module, || {
        let start = Instant::now();
        while !module.interrupt().unwrap() {
            assert!(start.elapsed() < Duration::from_secs(30), "no call started");
            thread::sleep(ms(5));
        }
    });
    assert_eq!(result.unwrap_err().status(), Status::Interrupted);
    assert!(after < SLACK, "returned {after:?} after the interrupt");
    // Only that call: the next one sleeps its full length.
    let start = Instant::now();
    assert_eq!(sleep(&module, 20_000_000, Timeout::Never), Ok(0));
    assert!(start.elapsed() >= ms(20));
}

#[test]
fn cancel_token_wakes_a_sleeping_guest() {
    let host = host();
    let module = sleeper(&host);
    let token = host.new_cancel();
    let runner = module.clone();
    let held = token.clone();
    let worker = thread::spawn(move || {
        let mut errno = [0];
        let result = runner.call(
            b"sleep",
            &[EIGHT_SECONDS],
            &mut errno,
            Timeout::Never,
            Some(&held),
        );
        (result, Instant::now())
    });
    thread::sleep(ms(300));
    let triggered = Instant::now();
    token.trigger();
    let (result, returned) = worker.join().unwrap();
    assert_eq!(result.unwrap_err().status(), Status::Interrupted);
    let after = returned.saturating_duration_since(triggered);
    assert!(after < SLACK, "returned {after:?} after the trigger");
    // The token stays triggered; a call with a fresh one sleeps normally.
    token.reset();
    let mut errno = [1];
    module
        .call(
            b"sleep",
            &[1_000_000],
            &mut errno,
            Timeout::Never,
            Some(&token),
        )
        .unwrap();
    assert_eq!(errno, [0]);
}

#[test]
fn module_close_returns_promptly_while_the_guest_sleeps() {
    let host = host();
    let module = sleeper(&host);
    let (result, after) = stop_a_sleeper(&module, || module.close());
    // As for a busy loop: a call whose module closes under it reports the close.
    assert_eq!(result.unwrap_err().status(), Status::HandleClosed);
    assert!(after < SLACK, "close and the call took {after:?}");
    assert_eq!(host.live_modules(), 0);
    assert_eq!(
        sleep(&module, 1, Timeout::Never).unwrap_err().status(),
        Status::HandleClosed
    );
}

#[test]
fn host_close_returns_promptly_while_a_guest_sleeps() {
    let host = host();
    let module = sleeper(&host);
    let (result, after) = stop_a_sleeper(&module, || host.close());
    assert_eq!(result.unwrap_err().status(), Status::HandleClosed);
    assert!(after < SLACK, "close and the call took {after:?}");
    assert!(module.is_closed());
}

#[test]
fn a_clock_mixed_with_a_ready_fd_returns_at_once() {
    let host = host();
    let module = sleeper(&host);
    let start = Instant::now();
    let mut errno = [1];
    module
        .call(
            b"sleep_or_stdin",
            &[EIGHT_SECONDS],
            &mut errno,
            Timeout::After(ms(20_000)),
            None,
        )
        .unwrap();
    assert!(start.elapsed() < SLACK, "took {:?}", start.elapsed());
    assert_eq!(errno, [0]);
    // Only stdin is ready: one fd_read event (type 1) with userdata 0xfd.
    assert_eq!(read_u32(&module, 512), 1);
    assert_eq!(read_u64(&module, 256), 0xfd);
    let mut errno_and_type = [0xff; 3];
    module.memory_read(256 + 8, &mut errno_and_type).unwrap();
    assert_eq!(errno_and_type, [0, 0, 1]);
}

#[test]
fn the_earliest_of_several_clocks_ends_the_wait() {
    let host = host();
    let module = sleeper(&host);
    write_clock(&module, 1024, 1, 1, EIGHT_SECONDS, 0);
    write_clock(&module, 1072, 2, 0, 10_000_000, 0); // realtime, relative
    write_clock(&module, 1120, 3, 1, 0, 1); // monotonic, absolute 0: long past
    let start = Instant::now();
    assert_eq!(poll(&module, [1024, 2048, 3, 4096]), Ok(0));
    assert!(start.elapsed() < SLACK, "took {:?}", start.elapsed());
    // Only the absolute one was due at once.
    assert_eq!(read_u32(&module, 4096), 1);
    assert_eq!(read_u64(&module, 2048), 3);

    write_clock(&module, 1120, 3, 1, EIGHT_SECONDS, 0);
    let start = Instant::now();
    assert_eq!(poll(&module, [1024, 2048, 3, 4096]), Ok(0));
    let took = start.elapsed();
    assert!(took >= ms(10) && took < ms(10) + SLACK, "took {took:?}");
    assert_eq!(read_u32(&module, 4096), 1);
    assert_eq!(read_u64(&module, 2048), 2);
}

#[test]
fn an_absolute_realtime_clock_waits_until_that_time() {
    let host = host();
    let module = sleeper(&host);
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let at = (wall + ms(100)).as_nanos() as u64;
    write_clock(&module, 1024, 7, 0, at, 1);
    let start = Instant::now();
    assert_eq!(poll(&module, [1024, 2048, 1, 4096]), Ok(0));
    // The wall clock may step; allow for a little.
    let took = start.elapsed();
    assert!(took >= ms(80) && took < ms(100) + SLACK, "took {took:?}");
    assert_eq!(read_u64(&module, 2048), 7);
}

#[test]
fn bad_subscriptions_get_wasmtime_wasis_errnos_and_traps() {
    let host = host();
    let module = sleeper(&host);
    // No subscriptions: p1 cannot wait forever.
    assert_eq!(poll(&module, [1024, 2048, 0, 4096]), Ok(EINVAL));
    // The CPU-time clocks and unknown clock ids.
    for id in [2, 3, 9] {
        write_clock(&module, 1024, 1, id, 1, 0);
        assert_eq!(
            poll(&module, [1024, 2048, 1, 4096]),
            Ok(EINVAL),
            "clock {id}"
        );
    }
    // Unknown flag bits and an unknown event type.
    write_clock(&module, 1024, 1, 1, 1, 2);
    assert_eq!(poll(&module, [1024, 2048, 1, 4096]), Ok(EINVAL));
    write_clock(&module, 1024, 1, 1, 1, 0);
    module.memory_write(1024 + 8, &[3]).unwrap();
    assert_eq!(poll(&module, [1024, 2048, 1, 4096]), Ok(EINVAL));
    // A pointer past the end of memory or misaligned traps, as the WASI
    // ABI asks; the module stays usable.
    write_clock(&module, 1024, 1, 1, 1, 0);
    for args in [
        [65_536 - 24, 2048, 1, 4096],
        [1028, 2048, 1, 4096],
        [1024, 65_536 - 8, 1, 4096],
        [1024, 2048, 1, 65_536],
    ] {
        let err = poll(&module, args).unwrap_err();
        assert_eq!(err.status(), Status::Trap, "{args:?}: {err}");
    }
    assert_eq!(poll(&module, [1024, 2048, 1, 4096]), Ok(0));
}

#[test]
fn a_sleep_at_load_is_bounded_by_the_load_timeout_and_cancel_token() {
    let host = host();
    let wasm = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/wasi/sleep_at_start.wasm"),
    )
    .expect("read sleep_at_start.wasm");
    let start = Instant::now();
    let options = LoadOptions {
        timeout: Timeout::After(ms(300)),
        ..LoadOptions::default()
    };
    let err = host.load_with("start", &wasm, &options).err().unwrap();
    assert_eq!(err.status(), Status::Timeout, "{err}");
    assert!(
        start.elapsed() < ms(300) + SLACK,
        "took {:?}",
        start.elapsed()
    );

    let token = host.new_cancel();
    let trigger = {
        let token = token.clone();
        thread::spawn(move || {
            thread::sleep(ms(300));
            token.trigger();
            Instant::now()
        })
    };
    let options = LoadOptions {
        timeout: Timeout::Never,
        cancel: Some(token),
        ..LoadOptions::default()
    };
    let err = host.load_with("start", &wasm, &options).err().unwrap();
    let after = trigger.join().unwrap().elapsed();
    assert_eq!(err.status(), Status::Interrupted, "{err}");
    assert!(after < SLACK, "returned {after:?} after the trigger");
    assert_eq!(host.live_modules(), 0);
}
