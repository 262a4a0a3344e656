;; touch(pages) dirties the first `pages` 64 KiB wasm pages: one byte in each
;; 4 KiB OS page, so a reset has that much memory to give back. It returns
;; the byte at address 0 as it was before, which the data segment sets to 115
;; ('s'): a fresh (or freshly reset) instance returns 115, a dirty one 1.
(module
  (memory (export "memory") 256)
  (data (i32.const 0) "sbx")
  (func (export "touch") (param $pages i32) (result i32)
    (local $addr i32) (local $end i32) (local $first i32)
    (local.set $first (i32.load8_u (i32.const 0)))
    (local.set $end (i32.shl (local.get $pages) (i32.const 16)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $addr) (local.get $end)))
        (i32.store8 (local.get $addr) (i32.const 1))
        (local.set $addr (i32.add (local.get $addr) (i32.const 4096)))
        (br $next)))
    (local.get $first)))
