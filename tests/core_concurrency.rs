//! Isolation between modules, guest state across failed calls, threads, and
//! closing while calls run.

mod common;

use common::*;
use sbx::{Limits, Module, Status, Timeout};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const GENEROUS: Duration = Duration::from_secs(30);

fn stateful(host: &sbx::Host) -> Module {
    host.load("stateful", &wat(STATEFUL), Timeout::Never, None)
        .expect("load the stateful module")
}

fn interrupt_when_running(module: &Module) {
    let start = Instant::now();
    while !module.interrupt().unwrap() {
        assert!(start.elapsed() < GENEROUS, "no call started");
        thread::sleep(ms(5));
    }
}

#[test]
fn two_modules_have_independent_globals() {
    let host = default_host();
    let a = load(&host, "counter");
    let b = load(&host, "counter");
    for _ in 0..3 {
        call(&a, "inc", &[]).unwrap();
    }
    call(&b, "inc", &[]).unwrap();
    assert_eq!(call(&a, "get", &[]).unwrap(), vec![3]);
    assert_eq!(call(&b, "get", &[]).unwrap(), vec![1]);
    a.close();
    assert_eq!(status_of(call(&a, "get", &[])), Status::HandleClosed);
    assert_eq!(call(&b, "inc", &[]).unwrap(), vec![2]);
    assert_eq!(host.live_modules(), 1);
    // A fresh load of the same bytes starts from zero.
    let c = load(&host, "counter");
    assert_eq!(call(&c, "get", &[]).unwrap(), vec![0]);
}

#[test]
fn module_stays_usable_after_a_timeout() {
    let host = default_host();
    let m = stateful(&host);
    let err = call_with(&m, "loop", &[], Timeout::After(ms(30))).fails();
    assert_eq!(err.status(), Status::Timeout);
    // The guest bumped the counter before it looped: its state is kept.
    assert_eq!(call(&m, "get", &[]).unwrap(), vec![1]);
    assert_eq!(call(&m, "inc", &[]).unwrap(), vec![2]);
}

#[test]
fn module_stays_usable_after_an_interrupt() {
    let host = default_host();
    let m = stateful(&host);
    let runner = m.clone();
    let worker = thread::spawn(move || call(&runner, "loop", &[]));
    interrupt_when_running(&m);
    assert_eq!(worker.join().unwrap().fails().status(), Status::Interrupted);
    // The interrupt may land at the function's entry, before the guest's
    // bump (seen under qemu); either way the state it reached is kept.
    let reached = call(&m, "get", &[]).unwrap()[0];
    assert!(reached <= 1, "the counter is {reached}");
    assert_eq!(call(&m, "inc", &[]).unwrap(), vec![reached + 1]);
}

#[test]
fn module_stays_usable_after_fuel_exhaustion() {
    let host = host_with(Limits {
        fuel: Some(50_000),
        ..Default::default()
    });
    let m = stateful(&host);
    assert_eq!(
        call(&m, "loop", &[]).fails().status(),
        Status::FuelExhausted
    );
    assert_eq!(call(&m, "inc", &[]).unwrap(), vec![2]);
}

#[test]
fn module_stays_usable_after_a_trap() {
    let host = default_host();
    let m = stateful(&host);
    for expected in 1..=3 {
        let err = call(&m, "trap", &[]).fails();
        assert_eq!(err.status(), Status::Trap);
        assert_eq!(call(&m, "get", &[]).unwrap(), vec![expected]);
    }
    assert_eq!(call(&m, "inc", &[]).unwrap(), vec![4]);
    // A stack overflow, too, leaves the module usable.
    let bomb = load(&host, "stack_bomb");
    call(&bomb, "recurse", &[0]).fails();
    let err = call(&bomb, "recurse", &[0]).fails();
    assert_eq!(err.trap_code(), sbx::TrapCode::StackOverflow);
}

#[test]
fn eight_threads_on_one_module_are_serialized() {
    let host = default_host();
    let m = load(&host, "counter");
    let barrier = Arc::new(Barrier::new(8));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (m, barrier) = (m.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                (0..200)
                    .map(|_| call(&m, "inc", &[]).unwrap()[0])
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    seen.sort_unstable();
    // Every increment saw a distinct value: no two calls overlapped.
    assert_eq!(seen, (1..=1600).collect::<Vec<_>>());
    assert_eq!(call(&m, "get", &[]).unwrap(), vec![1600]);
}

#[test]
fn eight_threads_on_eight_modules_keep_their_own_state() {
    // (Whether they overlap in time: calls_on_different_modules_overlap_in_time.)
    let host = default_host();
    let barrier = Arc::new(Barrier::new(8));
    let workers: Vec<_> = (0..8u64)
        .map(|i| {
            let fib = load(&host, "fib");
            let counter = load(&host, "counter");
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                for _ in 0..=i {
                    call(&counter, "inc", &[]).unwrap();
                }
                let n = 15 + i % 5;
                let got = call(&fib, "fib", &[n]).unwrap()[0];
                (n, got, call(&counter, "get", &[]).unwrap()[0])
            })
        })
        .collect();
    let expected = [610, 987, 1597, 2584, 4181];
    for (i, w) in workers.into_iter().enumerate() {
        let (n, got, count) = w.join().unwrap();
        assert_eq!(got, expected[(n - 15) as usize], "fib({n})");
        assert_eq!(count, i as u64 + 1, "counter of module {i}");
    }
    // The modules moved into the threads and were dropped with them.
    assert_eq!(host.live_modules(), 0);
}

#[test]
fn calls_on_different_modules_overlap_in_time() {
    // Eight 1 s deadlines end after about 1 s in parallel, but would take
    // at least 8 s one after another; the bound leaves room for a loaded box.
    let host = default_host();
    let modules: Vec<_> = (0..8).map(|_| load(&host, "infinite_loop")).collect();
    let barrier = Arc::new(Barrier::new(8));
    let start = Instant::now();
    let workers: Vec<_> = modules
        .iter()
        .map(|m| {
            let (m, barrier) = (m.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                call_with(&m, "loop", &[], Timeout::After(Duration::from_secs(1)))
            })
        })
        .collect();
    for w in workers {
        assert_eq!(w.join().unwrap().fails().status(), Status::Timeout);
    }
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(7),
        "calls did not overlap: {took:?}"
    );
}

#[test]
fn a_long_call_on_one_module_does_not_block_another() {
    let host = default_host();
    let looping = load(&host, "infinite_loop");
    let add = load(&host, "add");
    let runner = looping.clone();
    let worker = thread::spawn(move || call(&runner, "loop", &[]));
    thread::sleep(ms(50));
    for i in 0..100 {
        assert_eq!(call(&add, "add", &[i, i]).unwrap(), vec![2 * i]);
    }
    interrupt_when_running(&looping);
    assert_eq!(worker.join().unwrap().fails().status(), Status::Interrupted);
}

#[test]
fn close_during_a_call_interrupts_it_and_waits_for_it() {
    // One pooled slot: a load succeeds only once the closed module's instance
    // is freed, which cannot happen while its call still runs.
    let host = host_with(Limits {
        max_modules: 1,
        pooling: true,
        ..Default::default()
    });
    let m = load(&host, "infinite_loop");
    let runner = m.clone();
    let worker = thread::spawn(move || call(&runner, "loop", &[]));
    // Wait until the call is in flight (interrupting a running call would
    // end it, so probe by timing instead: give it time to start).
    thread::sleep(ms(200));
    m.close();
    assert!(m.is_closed());
    assert_eq!(host.live_modules(), 0);
    let next = load(&host, "add");
    assert_eq!(call(&next, "add", &[1, 2]).unwrap(), vec![3]);
    let status = worker.join().unwrap().fails().status();
    assert_eq!(status, Status::HandleClosed);
    assert_eq!(status_of(call(&m, "loop", &[])), Status::HandleClosed);
    // The closed call is counted, as an interrupt; the refused one is not.
    let stats = m.stats();
    assert_eq!((stats.calls, stats.interrupts), (1, 1));
}

#[test]
fn close_from_many_threads_at_once_is_safe() {
    let host = default_host();
    let m = load(&host, "infinite_loop");
    let runner = m.clone();
    let worker = thread::spawn(move || call(&runner, "loop", &[]));
    thread::sleep(ms(50));
    let closers: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || m.close())
        })
        .collect();
    for c in closers {
        c.join().unwrap();
    }
    let status = worker.join().unwrap().fails().status();
    assert_eq!(status, Status::HandleClosed);
    assert_eq!(host.live_modules(), 0);
}

#[test]
fn host_close_closes_every_module() {
    let host = default_host();
    let modules: Vec<_> = ["add", "counter", "fib", "infinite_loop"]
        .iter()
        .map(|n| load(&host, n))
        .collect();
    let looping = modules[3].clone();
    let worker = thread::spawn(move || call(&looping, "loop", &[]));
    thread::sleep(ms(100));
    assert_eq!(host.live_modules(), 4);
    host.close();
    assert_eq!(host.live_modules(), 0);
    let status = worker.join().unwrap().fails().status();
    assert_eq!(status, Status::HandleClosed);
    for m in &modules {
        assert!(m.is_closed(), "{}", m.name());
    }
    assert_eq!(
        status_of(call(&modules[0], "add", &[1, 2])),
        Status::HandleClosed
    );
    assert_eq!(
        status_of(call(&modules[1], "inc", &[])),
        Status::HandleClosed
    );
    assert_eq!(
        status_of(call(&modules[2], "fib", &[3])),
        Status::HandleClosed
    );
    // A clone of the host is the same host.
    let clone = host.clone();
    assert!(clone.is_closed());
    assert_eq!(
        status_of(clone.load("add", &fixture("add"), Timeout::Never, None)),
        Status::HandleClosed
    );
}

#[test]
fn concurrent_loads_respect_the_module_cap() {
    let host = host_with(Limits {
        max_modules: 5,
        ..Default::default()
    });
    let barrier = Arc::new(Barrier::new(10));
    let workers: Vec<_> = (0..10)
        .map(|_| {
            let (host, barrier) = (host.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                host.load("c", &fixture("counter"), Timeout::Never, None)
            })
        })
        .collect();
    let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let loaded = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(loaded, 5);
    for r in &results {
        if let Err(e) = r {
            assert_eq!(e.status(), Status::InstanceLimit);
        }
    }
    assert_eq!(host.live_modules(), 5);
}

#[test]
fn closing_the_host_stops_a_start_function_in_flight() {
    // No deadline and no token: only the host's close can stop this load.
    let host = default_host();
    let loader = host.clone();
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let loaded = loader.load("spin", &fixture("start_loop"), Timeout::Never, None);
        done.send(loaded.map(|m| m.name().to_owned())).unwrap();
    });
    // A load in flight holds its place in the host from its start.
    let start = Instant::now();
    while host.live_modules() == 0 {
        assert!(start.elapsed() < GENEROUS, "the load did not start");
        thread::sleep(ms(1));
    }
    thread::sleep(ms(20));
    host.close();
    let err = finished
        .recv_timeout(GENEROUS)
        .expect("host close did not stop the start function")
        .fails();
    assert_eq!(err.status(), Status::HandleClosed, "{err}");
    assert!(err.message().contains("host was closed"), "{err}");
    assert_eq!(host.live_modules(), 0);
}
