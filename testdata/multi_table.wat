;; Four tables, 1 + 1 + 0 + 0 elements: the table elements limit bounds their
;; sum. grow(table, n) grows one table (-1 when refused); grow_all() grows them
;; one element at a time in turn until a grow is refused and returns
;; elements(); elements() is the total size of all four.
(module
  (table $t0 1 funcref)
  (table $t1 1 funcref)
  (table $t2 0 funcref)
  (table $t3 0 funcref)
  (func $elements (export "elements") (result i32)
    (i32.add
      (i32.add (table.size $t0) (table.size $t1))
      (i32.add (table.size $t2) (table.size $t3))))
  (func $grow (export "grow") (param $table i32) (param $n i32) (result i32)
    (block $b3
      (block $b2
        (block $b1
          (block $b0
            (br_table $b0 $b1 $b2 $b3 (local.get $table)))
          (return (table.grow $t0 (ref.null func) (local.get $n))))
        (return (table.grow $t1 (ref.null func) (local.get $n))))
      (return (table.grow $t2 (ref.null func) (local.get $n))))
    (table.grow $t3 (ref.null func) (local.get $n)))
  (func (export "grow_all") (result i32)
    (local $table i32)
    (block $refused
      (loop $more
        (br_if $refused
          (i32.eq (call $grow (local.get $table) (i32.const 1)) (i32.const -1)))
        (local.set $table (i32.rem_u (i32.add (local.get $table) (i32.const 1)) (i32.const 4)))
        (br $more)))
    (call $elements)))
