//! Timeouts, interrupts and cancel tokens, for calls and for start functions.
//! Time bounds are generous: these run on loaded machines.

mod common;

use common::*;
use sbx::{Limits, Status, Timeout};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Long enough that "it did not stop" is unambiguous, short enough for CI.
const GENEROUS: Duration = Duration::from_secs(30);

#[test]
fn per_call_timeout_stops_an_infinite_loop() {
    let host = default_host();
    let module = load(&host, "infinite_loop");
    let start = Instant::now();
    let err = call_with(&module, "loop", &[], Timeout::After(ms(50))).fails();
    let took = start.elapsed();
    assert_eq!(err.status(), Status::Timeout, "{err}");
    assert!(took >= ms(50), "stopped before its deadline: {took:?}");
    assert!(took < GENEROUS, "took {took:?}");
    assert!(err.message().contains("loop"), "{}", err.message());
}

#[test]
fn host_default_exec_timeout_applies() {
    let host = host_with(Limits {
        exec_timeout: Some(ms(50)),
        ..Default::default()
    });
    let module = load(&host, "infinite_loop");
    let start = Instant::now();
    let err = call_with(&module, "loop", &[], Timeout::HostDefault).fails();
    assert_eq!(err.status(), Status::Timeout);
    assert!(start.elapsed() >= ms(50));
    // A per-call timeout overrides the default too.
    let err = call_with(&module, "loop", &[], Timeout::After(ms(10))).fails();
    assert_eq!(err.status(), Status::Timeout);
    // Quick calls are unaffected by the default.
    let add = load(&host, "add");
    assert_eq!(
        call_with(&add, "add", &[1, 1], Timeout::HostDefault).unwrap(),
        vec![2]
    );
}

#[test]
fn timeout_never_overrides_the_host_default() {
    let host = host_with(Limits {
        exec_timeout: Some(ms(50)),
        ..Default::default()
    });
    let module = load(&host, "infinite_loop");
    let runner = module.clone();
    let (done_tx, done_rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let result = call_with(&runner, "loop", &[], Timeout::Never);
        let _ = done_tx.send(());
        result
    });
    // Well past the 50 ms default, then interrupt once the call is in flight.
    thread::sleep(ms(100));
    let start = Instant::now();
    loop {
        assert!(
            done_rx.try_recv().is_err(),
            "the call ended on its own: {:?}",
            worker.join().unwrap()
        );
        if module.interrupt().unwrap() {
            break;
        }
        assert!(start.elapsed() < GENEROUS, "the call never started");
        thread::sleep(ms(5));
    }
    let err = worker.join().unwrap().fails();
    assert_eq!(err.status(), Status::Interrupted, "{err}");
}

#[test]
fn the_deadline_is_rearmed_for_every_call() {
    let host = default_host();
    let module = load(&host, "infinite_loop");
    for i in 0..10 {
        let start = Instant::now();
        let err = call_with(&module, "loop", &[], Timeout::After(ms(20))).fails();
        assert_eq!(err.status(), Status::Timeout, "call {i}");
        assert!(start.elapsed() >= ms(20), "call {i} stopped early");
    }
    let add = load(&host, "add");
    assert_eq!(
        call_with(&add, "add", &[2, 2], Timeout::After(ms(20))).unwrap(),
        vec![4]
    );
    // An earlier deadline that has passed does not hit a later quick call.
    thread::sleep(ms(50));
    assert_eq!(
        call_with(&add, "add", &[3, 3], Timeout::After(ms(5000))).unwrap(),
        vec![6]
    );
}

#[test]
fn a_generous_timeout_does_not_stop_a_call_that_finishes() {
    let host = default_host();
    let fib = load(&host, "fib");
    assert_eq!(
        call_with(&fib, "fib", &[20], Timeout::After(Duration::from_secs(60))).unwrap(),
        vec![6765]
    );
}

#[test]
fn interrupt_without_a_call_does_not_affect_the_next_call() {
    let host = default_host();
    let module = load(&host, "infinite_loop");
    assert!(!module.interrupt().unwrap());
    assert!(!module.interrupt().unwrap());
    let err = call_with(&module, "loop", &[], Timeout::After(ms(200))).fails();
    assert_eq!(
        err.status(),
        Status::Timeout,
        "a stale interrupt leaked: {err}"
    );
    // And after a call was interrupted, the next one is not.
    let runner = module.clone();
    let worker = thread::spawn(move || call_with(&runner, "loop", &[], Timeout::Never));
    interrupt_when_running(&module);
    assert_eq!(worker.join().unwrap().fails().status(), Status::Interrupted);
    let err = call_with(&module, "loop", &[], Timeout::After(ms(100))).fails();
    assert_eq!(err.status(), Status::Timeout);
}

/// Interrupts `module` as soon as a call is in flight on it.
fn interrupt_when_running(module: &sbx::Module) {
    let start = Instant::now();
    while !module.interrupt().unwrap() {
        assert!(start.elapsed() < GENEROUS, "no call started");
        thread::sleep(ms(5));
    }
}

#[test]
fn interrupt_from_another_thread_stops_the_call_in_flight() {
    let host = default_host();
    let module = load(&host, "infinite_loop");
    let runner = module.clone();
    let worker = thread::spawn(move || call_with(&runner, "loop", &[], Timeout::Never));
    thread::sleep(ms(50));
    interrupt_when_running(&module);
    let err = worker.join().unwrap().fails();
    assert_eq!(err.status(), Status::Interrupted, "{err}");
    // Another module on the same host is not disturbed by the interrupt.
    let fib = load(&host, "fib");
    assert_eq!(call(&fib, "fib", &[10]).unwrap(), vec![55]);
}

#[test]
fn interrupt_hits_only_its_own_module() {
    let host = default_host();
    let a = load(&host, "infinite_loop");
    let b = load(&host, "infinite_loop");
    let runner = b.clone();
    let worker = thread::spawn(move || call_with(&runner, "loop", &[], Timeout::After(ms(500))));
    thread::sleep(ms(50));
    // `a` has no call in flight; interrupting it must not stop `b`.
    assert!(!a.interrupt().unwrap());
    let err = worker.join().unwrap().fails();
    assert_eq!(err.status(), Status::Timeout, "{err}");
}

#[test]
fn cancel_triggered_before_the_call_stops_it_without_running() {
    let host = default_host();
    let module = host
        .load("stateful", &wat(STATEFUL), Timeout::Never, None)
        .unwrap();
    let cancel = host.new_cancel();
    cancel.trigger();
    assert!(cancel.is_triggered());
    let mut results = [0u64; 1];
    let err = module
        .call(b"inc", &[], &mut results, Timeout::Never, Some(&cancel))
        .fails();
    assert_eq!(err.status(), Status::Interrupted);
    // `inc` never ran.
    assert_eq!(call(&module, "get", &[]).unwrap(), vec![0]);
    // Calls without the token are unaffected.
    assert_eq!(call(&module, "inc", &[]).unwrap(), vec![1]);
    // Reset makes the token usable again.
    cancel.reset();
    assert!(!cancel.is_triggered());
    let n = module
        .call(b"inc", &[], &mut results, Timeout::Never, Some(&cancel))
        .unwrap();
    assert_eq!((n, results[0]), (1, 2));
}

#[test]
fn cancel_triggered_during_the_call_stops_it() {
    let host = default_host();
    let module = load(&host, "infinite_loop");
    let cancel = host.new_cancel();
    let (runner, token) = (module.clone(), cancel.clone());
    let worker = thread::spawn(move || {
        let mut none = [0u64; 0];
        runner.call(b"loop", &[], &mut none, Timeout::Never, Some(&token))
    });
    thread::sleep(ms(100));
    cancel.trigger();
    cancel.trigger(); // idempotent
    let err = worker.join().unwrap().fails();
    assert_eq!(err.status(), Status::Interrupted, "{err}");
    // After a reset, the token no longer stops calls; a timeout still does.
    cancel.reset();
    let mut none = [0u64; 0];
    let err = module
        .call(
            b"loop",
            &[],
            &mut none,
            Timeout::After(ms(50)),
            Some(&cancel),
        )
        .fails();
    assert_eq!(err.status(), Status::Timeout);
    let add = load(&host, "add");
    let mut one = [0u64; 1];
    add.call(b"add", &[4, 5], &mut one, Timeout::Never, Some(&cancel))
        .unwrap();
    assert_eq!(one[0], 9);
}

#[test]
fn one_cancel_token_stops_calls_on_several_modules() {
    let host = default_host();
    let cancel = host.new_cancel();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let module = load(&host, "infinite_loop");
            let token = cancel.clone();
            thread::spawn(move || {
                let mut none = [0u64; 0];
                module.call(b"loop", &[], &mut none, Timeout::Never, Some(&token))
            })
        })
        .collect();
    thread::sleep(ms(100));
    cancel.trigger();
    for worker in workers {
        assert_eq!(worker.join().unwrap().fails().status(), Status::Interrupted);
    }
}

#[test]
fn start_function_loop_times_out() {
    let host = default_host();
    let start = Instant::now();
    let err = host
        .load(
            "spin",
            &fixture("start_loop"),
            Timeout::After(ms(100)),
            None,
        )
        .fails();
    assert_eq!(err.status(), Status::Timeout, "{err}");
    assert!(start.elapsed() >= ms(100));
    assert!(err.message().contains("start"), "{}", err.message());
    assert_eq!(host.live_modules(), 0);
}

#[test]
fn start_function_loop_times_out_under_the_host_load_timeout() {
    let host = host_with(Limits {
        load_timeout: Some(ms(100)),
        max_modules: 1,
        ..Default::default()
    });
    let err = host
        .load("spin", &fixture("start_loop"), Timeout::HostDefault, None)
        .fails();
    assert_eq!(err.status(), Status::Timeout, "{err}");
    // The failed load gave its slot back, and the exec timeout is separate.
    let module = load(&host, "infinite_loop");
    let runner = module.clone();
    let worker = thread::spawn(move || call_with(&runner, "loop", &[], Timeout::HostDefault));
    thread::sleep(ms(300));
    interrupt_when_running(&module);
    assert_eq!(worker.join().unwrap().fails().status(), Status::Interrupted);
}

#[test]
fn start_function_loop_is_stopped_by_a_cancel_token() {
    let host = default_host();
    let cancel = host.new_cancel();
    let token = cancel.clone();
    let loader = host.clone();
    let worker = thread::spawn(move || {
        loader.load("spin", &fixture("start_loop"), Timeout::Never, Some(&token))
    });
    thread::sleep(ms(100));
    cancel.trigger();
    let err = worker.join().unwrap().err().expect("load must fail");
    assert_eq!(err.status(), Status::Interrupted, "{err}");
    // Already triggered: the start function never runs.
    let start = Instant::now();
    let err = host
        .load(
            "spin",
            &fixture("start_loop"),
            Timeout::Never,
            Some(&cancel),
        )
        .err()
        .expect("load must fail");
    assert_eq!(err.status(), Status::Interrupted);
    assert!(start.elapsed() < GENEROUS);
    assert_eq!(host.live_modules(), 0);
    // A reset token does not stop a normal load.
    cancel.reset();
    assert!(host
        .load("add", &fixture("add"), Timeout::Never, Some(&cancel))
        .is_ok());
}

#[test]
fn a_load_cancel_token_does_not_stick_to_the_module() {
    let host = default_host();
    let cancel = host.new_cancel();
    let module = host
        .load(
            "loop",
            &fixture("infinite_loop"),
            Timeout::Never,
            Some(&cancel),
        )
        .unwrap();
    cancel.trigger();
    // The token was for the load only: a later call is stopped by its own
    // timeout, not by the token.
    let err = call_with(&module, "loop", &[], Timeout::After(ms(100))).fails();
    assert_eq!(err.status(), Status::Timeout);
}
