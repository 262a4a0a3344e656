;; Four linear memories, 1 + 1 + 0 + 0 pages: the memory limit bounds their sum.
;; grow(mem, pages) grows one memory (-1 when refused); grow_all() grows them
;; one page at a time in turn until a grow is refused and returns pages();
;; pages() is the total size of all four, in pages.
(module
  (memory $m0 1)
  (memory $m1 1)
  (memory $m2 0)
  (memory $m3 0)
  (func $pages (export "pages") (result i32)
    (i32.add
      (i32.add (memory.size $m0) (memory.size $m1))
      (i32.add (memory.size $m2) (memory.size $m3))))
  (func $grow (export "grow") (param $mem i32) (param $pages i32) (result i32)
    (block $b3
      (block $b2
        (block $b1
          (block $b0
            (br_table $b0 $b1 $b2 $b3 (local.get $mem)))
          (return (memory.grow $m0 (local.get $pages))))
        (return (memory.grow $m1 (local.get $pages))))
      (return (memory.grow $m2 (local.get $pages))))
    (memory.grow $m3 (local.get $pages)))
  (func (export "grow_all") (result i32)
    (local $mem i32)
    (block $refused
      (loop $more
        (br_if $refused
          (i32.eq (call $grow (local.get $mem) (i32.const 1)) (i32.const -1)))
        (local.set $mem (i32.rem_u (i32.add (local.get $mem) (i32.const 1)) (i32.const 4)))
        (br $more)))
    (call $pages)))
