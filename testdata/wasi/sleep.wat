;; A guest that blocks in WASI instead of looping: `sleep` waits on one
;; relative monotonic clock subscription, as wasi-libc's nanosleep does.
;; `poll` passes its arguments to poll_oneoff unchanged, for tests that lay
;; out their own subscriptions in memory.
;;
;; Memory layout used by `sleep` and `sleep_or_stdin`: subscriptions at 0
;; (48 bytes each), events at 256 (32 bytes each), event count at 512.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  ;; One clock subscription at `at`: userdata, tag 0, clock `id`, `ns`, flags.
  (func $clock (param $at i32) (param $userdata i64) (param $id i32) (param $ns i64) (param $flags i32)
    (i64.store (local.get $at) (local.get $userdata))
    (i32.store8 offset=8 (local.get $at) (i32.const 0))
    (i32.store offset=16 (local.get $at) (local.get $id))
    (i64.store offset=24 (local.get $at) (local.get $ns))
    (i64.store offset=32 (local.get $at) (i64.const 0))
    (i32.store16 offset=40 (local.get $at) (local.get $flags)))

  ;; Sleeps `ns` nanoseconds on the monotonic clock; returns the errno.
  (func (export "sleep") (param $ns i64) (result i32)
    (call $clock (i32.const 0) (i64.const 0x5151) (i32.const 1) (local.get $ns) (i32.const 0))
    (call $poll_oneoff (i32.const 0) (i32.const 256) (i32.const 1) (i32.const 512)))

  ;; Waits for `ns` or for stdin to be readable, whichever comes first;
  ;; returns the errno (the event count is at 512).
  (func (export "sleep_or_stdin") (param $ns i64) (result i32)
    (call $clock (i32.const 0) (i64.const 0x5151) (i32.const 1) (local.get $ns) (i32.const 0))
    (i64.store (i32.const 48) (i64.const 0xfd))
    (i32.store8 (i32.const 56) (i32.const 1))
    (i32.store (i32.const 64) (i32.const 0))
    (call $poll_oneoff (i32.const 0) (i32.const 256) (i32.const 2) (i32.const 512)))

  (func (export "poll") (param i32 i32 i32 i32) (result i32)
    (call $poll_oneoff (local.get 0) (local.get 1) (local.get 2) (local.get 3))))
