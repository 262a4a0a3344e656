;; Identity functions for every value type that crosses as uint64, plus a
;; multi-value swap, a memory, a global, and exports that cannot cross.
(module
  (memory (export "memory") 1)
  (global (export "answer") i32 (i32.const 42))
  (table (export "table") 1 funcref)
  (func (export "id_i32") (param i32) (result i32) local.get 0)
  (func (export "id_i64") (param i64) (result i64) local.get 0)
  (func (export "id_f32") (param f32) (result f32) local.get 0)
  (func (export "id_f64") (param f64) (result f64) local.get 0)
  (func (export "neg_f32") (param f32) (result f32) local.get 0 f32.neg)
  (func (export "add_f64") (param f64 f64) (result f64) local.get 0 local.get 1 f64.add)
  (func (export "swap") (param i32 i64) (result i64 i32) local.get 1 local.get 0)
  (func (export "mix") (param i32 i64 f32 f64) (result f64)
    local.get 0 f64.convert_i32_s
    local.get 1 f64.convert_i64_s f64.add
    local.get 2 f64.promote_f32 f64.add
    local.get 3 f64.add)
  (func (export "v128_param") (param v128))
  (func (export "funcref_result") (result funcref) ref.null func))
