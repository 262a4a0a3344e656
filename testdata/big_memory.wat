;; Declares 300 MiB of initial memory: more than the 256 MiB default limit.
(module
  (memory (export "memory") 4800))
