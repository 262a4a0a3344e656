(module
  (func (export "run") (result i32)
    f32.const nan
    i32.trunc_f32_s))
