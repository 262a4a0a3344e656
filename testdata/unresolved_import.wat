;; Imports a function no host provides.
(module
  (import "env" "missing_function" (func $missing (param i32)))
  (func (export "run")
    i32.const 1
    call $missing))
