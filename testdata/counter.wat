;; A mutable global behind inc/get, to show that modules do not share state.
(module
  (global $count (mut i32) (i32.const 0))
  (func (export "inc") (result i32)
    global.get $count
    i32.const 1
    i32.add
    global.set $count
    global.get $count)
  (func (export "get") (result i32)
    global.get $count))
