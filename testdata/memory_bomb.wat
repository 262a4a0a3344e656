;; grow_all() grows memory a page at a time until memory.grow refuses (-1)
;; and returns the page count reached; grow(n) tries one grow of n pages.
(module
  (memory (export "memory") 1)
  (func (export "grow_all") (result i32)
    (block $refused
      (loop $more
        i32.const 1
        memory.grow
        i32.const -1
        i32.eq
        br_if $refused
        br $more))
    memory.size)
  (func (export "grow") (param i32) (result i32)
    local.get 0
    memory.grow))
