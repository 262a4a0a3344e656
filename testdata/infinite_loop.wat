;; loop() never returns, as D035 names it.
(module
  (func (export "loop")
    (loop $forever
      br $forever)))
