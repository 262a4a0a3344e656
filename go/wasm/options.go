package wasm

import (
	"fmt"
	"math"
	"time"
)

// Option configures a Host. Options record their value and NewHost checks
// them; an invalid one makes NewHost fail with ErrInvalidOption.
type Option func(*Host)

// setting is an option's value and whether it was given: a given value,
// whatever it is, goes to the library, which checks it.
type setting[T any] struct {
	v   T
	set bool
}

func (s *setting[T]) put(v T) { s.v, s.set = v, true }

// hostConfig is what the options recorded, applied by NewHost. The ranges
// are the library's: sbx_config_validate checks them and its message is
// the error's (the values are not checked here).
type hostConfig struct {
	execTimeout time.Duration
	execNs      uint64 // execTimeout in ns, or timeoutNone; set by NewHost
	fuel        uint64
	memory      setting[uint64]
	tableElems  setting[uint64]
	wasmStack   setting[uint64]
	maxModules  setting[uint32]
	maxAbandon  setting[uint32]
	pooling     bool
	cacheDir    string
	wasi        *WASIConfig
	err         error // the first option that Go itself cannot pass on
}

func (c *hostConfig) fail(format string, args ...any) {
	if c.err == nil {
		c.err = &Error{Op: "NewHost", Msg: fmt.Sprintf(format, args...), kind: ErrInvalidOption}
	}
}

// count passes an int option to the library's uint32; one that does not
// fit is refused here, as the library cannot see it.
func (c *hostConfig) count(option string, n int, to *setting[uint32]) {
	if n < 0 || uint64(n) > math.MaxUint32 {
		c.fail("%s(%d): does not fit the library's uint32", option, n)
		return
	}
	to.put(uint32(n))
}

// WithExecTimeout bounds every CallWithTimeout on the host's modules: the
// call stops with an error satisfying errors.Is(err, context.DeadlineExceeded)
// once d has passed (or the context's own deadline, whichever is earlier).
// Zero, the default, means no host timeout; a negative d is invalid.
// Loading a module is not bounded by it.
func WithExecTimeout(d time.Duration) Option {
	return func(h *Host) {
		if d < 0 {
			h.cfg.fail("WithExecTimeout(%v): must not be negative", d)
			return
		}
		h.cfg.execTimeout = d
	}
}

// WithFuelLimit gives every call (and every start function) a budget of n
// fuel units, roughly one per wasm instruction; a call that runs out fails
// with ErrFuelExhausted. 0, the default, turns metering off. Metering makes
// guest code slower; a timeout is the cheaper guard against runaway code.
func WithFuelLimit(n uint64) Option {
	return func(h *Host) { h.cfg.fuel = n }
}

// WithMemoryLimit caps each module's linear memory, in bytes, from 64 KiB to
// 4 GiB (default 256 MiB). The cap bounds the sum of all of a module's
// memories, rounded down to whole 64 KiB pages. memory.grow past it returns -1
// inside the guest; a module whose initial memories together are larger fails
// to load with ErrResourceLimit.
func WithMemoryLimit(bytes uint64) Option {
	return func(h *Host) { h.cfg.memory.put(bytes) }
}

// WithTableElementsLimit caps the elements of each table, from 1 to 2^32-1
// (default 10,000).
func WithTableElementsLimit(n uint64) Option {
	return func(h *Host) { h.cfg.tableElems.put(n) }
}

// WithMaxWasmStack caps the native stack wasm code may use, in bytes, from
// 16 KiB to 4 MiB (default 512 KiB); deeper recursion traps with
// TrapStackOverflow.
func WithMaxWasmStack(bytes uint64) Option {
	return func(h *Host) { h.cfg.wasmStack.put(bytes) }
}

// WithMaxModules caps how many modules the host holds at once (default
// 1,000); a LoadModule past it fails with ErrInstanceLimit until a module
// is closed. With WithPooling it is also the pool's size, at most 4,096.
func WithMaxModules(n int) Option {
	return func(h *Host) { h.cfg.count("WithMaxModules", n, &h.cfg.maxModules) }
}

// WithMaxAbandonedCompiles caps the compiles that keep running after their
// LoadModule gave up on them (default 2). Compiling cannot be stopped, so a
// LoadModule whose ctx ends while it compiles returns at once and leaves the
// compile to finish in the background, uncached. While n such compiles run,
// a LoadModule that needs a compile (not one found in the cache) fails with
// ErrInstanceLimit; retry later.
func WithMaxAbandonedCompiles(n int) Option {
	return func(h *Host) { h.cfg.count("WithMaxAbandonedCompiles", n, &h.cfg.maxAbandon) }
}

// WithPooling turns Wasmtime's pooling allocator on or off (default off).
// It makes loading a module several times faster, and reserves up front
// about 4 GiB of address space (not memory) for each of WithMaxModules
// slots, which must then be at most 4,096.
func WithPooling(enabled bool) Option {
	return func(h *Host) { h.cfg.pooling = enabled }
}

// WithCompilationCache keeps compiled modules in dir, created if needed, so
// that loading the same bytes again (even in another process) skips
// compiling. The directory must be trusted: its files run as machine code.
func WithCompilationCache(dir string) Option {
	return func(h *Host) {
		if dir == "" {
			h.cfg.fail("WithCompilationCache(%q): the directory must not be empty", dir)
			return
		}
		h.cfg.cacheDir = dir
	}
}
