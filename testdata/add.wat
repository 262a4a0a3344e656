;; add(i32, i32) -> i32, as D035 names it.
(module
  (func (export "add") (param i32 i32) (result i32)
    local.get 0
    local.get 1
    i32.add))
