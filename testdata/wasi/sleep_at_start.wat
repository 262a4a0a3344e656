;; Sleeps 8 s in its start function, as a reactor's `_initialize` might:
;; for the load's timeout and cancel token.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $sleep
    (i32.store8 (i32.const 8) (i32.const 0))                ;; tag: clock
    (i32.store (i32.const 16) (i32.const 1))                ;; monotonic
    (i64.store (i32.const 24) (i64.const 8000000000))       ;; 8 s, relative
    (drop (call $poll_oneoff (i32.const 0) (i32.const 256) (i32.const 1) (i32.const 512))))
  (start $sleep))
