package wasm

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Option configures a Host. Options record their value and NewHost checks
// them; the first invalid one makes NewHost fail with ErrInvalidOption.
type Option func(*Host)

// hostConfig is what the options recorded, applied by NewHost.
type hostConfig struct {
	execTimeout time.Duration
	fuel        uint64
	memory      uint64 // 0: the library default (256 MiB)
	tableElems  uint64 // 0: the library default (10,000)
	wasmStack   uint64 // 0: the library default (512 KiB)
	maxModules  uint32 // 0: the library default (1,000)
	maxAbandon  uint32 // 0: the library default (2)
	pooling     bool
	cacheDir    string
	wasi        *WASIConfig
	err         error // the first invalid option
}

// Ranges the library accepts (Limits::validate in src/limits.rs, as the
// sbx_config_set_* comments in sbx.h state them). Its setters return only a
// status, not its message, so the options check them here, where the error
// can name the option and the range; every check and message uses these.
const (
	minMemoryLimit    = 64 << 10
	maxMemoryLimit    = 4 << 30
	minWasmStack      = 16 << 10
	maxWasmStack      = 4 << 20
	maxTableElements  = math.MaxUint32
	maxCount          = math.MaxUint32 // modules, abandoned compiles: uint32 in C
	maxPoolingModules = 4096
)

// sizeText is a byte count in the largest binary unit that divides it
// exactly, e.g. "64 KiB".
func sizeText(n uint64) string {
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for i < len(units)-1 && n != 0 && n%1024 == 0 {
		n /= 1024
		i++
	}
	return strconv.FormatUint(n, 10) + " " + units[i]
}

func (c *hostConfig) fail(format string, args ...any) {
	if c.err == nil {
		c.err = &Error{Op: "NewHost", Msg: fmt.Sprintf(format, args...), kind: ErrInvalidOption}
	}
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
	return func(h *Host) {
		if bytes < minMemoryLimit || bytes > maxMemoryLimit {
			h.cfg.fail("WithMemoryLimit(%d): must be from %s to %s", bytes, sizeText(minMemoryLimit), sizeText(maxMemoryLimit))
			return
		}
		h.cfg.memory = bytes
	}
}

// WithTableElementsLimit caps the elements of each table, from 1 to 2^32-1
// (default 10,000).
func WithTableElementsLimit(n uint64) Option {
	return func(h *Host) {
		if n < 1 || n > maxTableElements {
			h.cfg.fail("WithTableElementsLimit(%d): must be from 1 to %d", n, uint64(maxTableElements))
			return
		}
		h.cfg.tableElems = n
	}
}

// WithMaxWasmStack caps the native stack wasm code may use, in bytes, from
// 16 KiB to 4 MiB (default 512 KiB); deeper recursion traps with
// TrapStackOverflow.
func WithMaxWasmStack(bytes uint64) Option {
	return func(h *Host) {
		if bytes < minWasmStack || bytes > maxWasmStack {
			h.cfg.fail("WithMaxWasmStack(%d): must be from %s to %s", bytes, sizeText(minWasmStack), sizeText(maxWasmStack))
			return
		}
		h.cfg.wasmStack = bytes
	}
}

// WithMaxModules caps how many modules the host holds at once (default
// 1,000); a LoadModule past it fails with ErrInstanceLimit until a module
// is closed. With WithPooling it is also the pool's size, at most 4,096.
func WithMaxModules(n int) Option {
	return func(h *Host) {
		if n < 1 || uint64(n) > maxCount {
			h.cfg.fail("WithMaxModules(%d): must be from 1 to %d", n, uint64(maxCount))
			return
		}
		h.cfg.maxModules = uint32(n)
	}
}

// WithMaxAbandonedCompiles caps the compiles that keep running after their
// LoadModule gave up on them (default 2). Compiling cannot be stopped, so a
// LoadModule whose ctx ends while it compiles returns at once and leaves the
// compile to finish in the background, uncached. While n such compiles run,
// a LoadModule that needs a compile (not one found in the cache) fails with
// ErrInstanceLimit; retry later.
func WithMaxAbandonedCompiles(n int) Option {
	return func(h *Host) {
		if n < 1 || uint64(n) > maxCount {
			h.cfg.fail("WithMaxAbandonedCompiles(%d): must be from 1 to %d", n, uint64(maxCount))
			return
		}
		h.cfg.maxAbandon = uint32(n)
	}
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
