;; A start function that calls the host function env.f, then loops forever:
;; for a host function that closes the module being loaded, which must stop
;; the load rather than let the loop run to the load's deadline.
(module
  (import "env" "f" (func $f))
  (func $start
    call $f
    (loop $forever br $forever))
  (start $start))
