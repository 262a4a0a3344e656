(module
  (type $v (func))
  (table 1 funcref)
  (func (export "run")
    i32.const 5
    call_indirect (type $v)))
