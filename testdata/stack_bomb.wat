;; recurse() calls itself forever: a stack overflow.
(module
  (func $recurse (export "recurse") (param i32) (result i32)
    local.get 0
    i32.const 1
    i32.add
    call $recurse))
