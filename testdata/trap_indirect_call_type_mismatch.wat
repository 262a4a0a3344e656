(module
  (type $v (func))
  (type $i (func (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $f)
  (func $f (type $v))
  (func (export "run") (result i32)
    i32.const 7
    i32.const 0
    call_indirect (type $i)))
