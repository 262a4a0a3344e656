//! The process-wide deadline timer leaves no work behind. In its own test
//! binary, because `queued_deadlines` counts every host in the process.

mod common;

use common::*;
use sbx::{queued_deadlines, Status, Timeout};
use std::time::Duration;

#[test]
fn queued_deadlines_drain_after_calls_end() {
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
