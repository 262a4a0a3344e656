;; noop(): the cheapest possible call, for measuring call overhead.
(module
  (func (export "noop")))
