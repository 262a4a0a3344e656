;; run(n) calls the host's env.inc n times, threading the value through:
;; returns n. For the wasm -> host function round trip.
(module
  (import "env" "inc" (func $inc (param i32) (result i32)))
  (func (export "run") (param $n i32) (result i32)
    (local $i i32)
    (local $acc i32)
    (block $done
      (loop $more
        local.get $i
        local.get $n
        i32.ge_u
        br_if $done
        local.get $acc
        call $inc
        local.set $acc
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br $more))
    local.get $acc))
