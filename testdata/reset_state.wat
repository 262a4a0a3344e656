;; State a reset must put back: a global that is not exported, memory the
;; guest writes (byte 0 starts as 42) and a table it changes (slot 0 starts
;; as $one). remember(x) keeps x in memory and returns the previous x, to
;; show whether one call sees another's data.
(module
  (type $ret_i32 (func (result i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 7))
  (table $t 1 funcref)
  (elem (i32.const 0) $one)
  (elem declare func $two)
  (data (i32.const 0) "\2a")
  (func $one (result i32) i32.const 1)
  (func $two (result i32) i32.const 2)
  (func (export "global") (result i32) global.get $g)
  (func (export "byte") (result i32) i32.const 0 i32.load8_u)
  (func (export "table") (result i32) i32.const 0 call_indirect (type $ret_i32))
  (func $mutate (export "mutate")
    i32.const 99
    global.set $g
    i32.const 0
    i32.const 99
    i32.store8
    i32.const 0
    ref.func $two
    table.set $t)
  (func (export "mutate_then_trap") call $mutate unreachable)
  (func (export "mutate_then_spin") call $mutate (loop $spin br $spin))
  (func (export "remember") (param i32) (result i32)
    (local $prev i32)
    i32.const 8
    i32.load
    local.set $prev
    i32.const 8
    local.get 0
    i32.store
    local.get $prev)
  (func (export "grow") (param i32) (result i32)
    local.get 0
    memory.grow))
