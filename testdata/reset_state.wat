;; State in every place a reset must restore: a global that is not
;; exported, memory the guest writes, and a table it changes. The start
;; function sets them to their post-load values: hidden = 7, stored = 42,
;; slot0 = 2. `scribble` changes all three (99, 13, 1); `remember(x)`
;; returns the input of the previous call and keeps x.
(module
  (global $hidden (mut i32) (i32.const 0))
  (memory (export "memory") 1)
  (table $t 2 funcref)
  (func $a (result i32) i32.const 1)
  (func $b (result i32) i32.const 2)
  (elem declare func $a $b)
  (func $init
    (global.set $hidden (i32.const 7))
    (i32.store (i32.const 100) (i32.const 42))
    (table.set $t (i32.const 0) (ref.func $b)))
  (start $init)
  (func (export "hidden") (result i32) global.get $hidden)
  (func (export "stored") (result i32) (i32.load (i32.const 100)))
  (func (export "slot0") (result i32) (call_indirect (result i32) (i32.const 0)))
  (func (export "scribble")
    (global.set $hidden (i32.const 99))
    (i32.store (i32.const 100) (i32.const 13))
    (table.set $t (i32.const 0) (ref.func $a)))
  (func (export "trap") unreachable)
  (func (export "remember") (param i32) (result i32)
    ;; returns the previous input and keeps this one
    (i32.load (i32.const 200))
    (i32.store (i32.const 200) (local.get 0)))
  (func (export "spin") (loop $l (br $l))))
