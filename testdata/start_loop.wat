;; The start function never returns, so instantiation never finishes.
(module
  (func $spin
    (loop $forever
      br $forever))
  (start $spin))
