// Command sbx runs a function of a WebAssembly module under sbx's limits.
//
//	sbx run [--timeout 50ms] [--fuel N] [--memory 64MiB] [--dir HOST[:GUEST][:ro|rw]]... [--env K=V]...
//	        module.wasm [FUNC [ARGS...]]
//	sbx demo [--testdata DIR]
//
// ARGS are parsed by the types of FUNC's params: i32 and i64 as decimal or
// 0x-prefixed hex, f32 and f64 as floats. Results are printed one per line,
// in their types. An unknown FUNC lists the module's exports. Every failure
// exits non-zero with a one-line message on stderr.
//
// WASI commands run with FUNC "_start", or with no FUNC (or "--") when the
// module exports _start. The ARGS after it are the program's arguments
// (its argv[0] is the module's file name); its stdout and stderr are the
// command's, and its exit code becomes the command's (1 for a code outside
// 1..255). The guest sees no files and no environment but those given
// with --dir (repeatable; GUEST defaults to HOST, access to ro) and --env
// (repeatable); stdin is empty.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sbx-run/sbx/go/wasm"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the module failed to load or the call failed
	exitUsage   = 2 // bad command line
)

const usage = `usage:
  sbx run [--timeout 50ms] [--fuel N] [--memory 64MiB] [--dir HOST[:GUEST][:ro|rw]]... [--env K=V]...
          module.wasm [FUNC [ARGS...]]
  sbx demo [--testdata DIR]
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command, with its output streams, for testing.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return runCommand(args[1:], stdout, stderr)
	case "demo":
		return demoCommand(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "sbx: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
}

// fail prints err on one line (a trap's backtrace is left out) and returns
// the exit code.
func fail(stderr io.Writer, code int, err error) int {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	fmt.Fprintf(stderr, "sbx: %s\n", msg)
	return code
}

func runCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sbx run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", 0, "stop the call after this long (0: no limit)")
	fuel := fs.Uint64("fuel", 0, "fuel budget of the call (0: unmetered)")
	memory := fs.String("memory", "", "linear memory limit, e.g. 64MiB (default 256MiB)")
	var wasi wasm.WASIConfig
	fs.Func("dir", "preopen HOST[:GUEST][:ro|rw] for WASI (repeatable)", func(s string) error {
		d, err := parseDir(s)
		wasi.Dirs = append(wasi.Dirs, d)
		return err
	})
	fs.Func("env", "set K=V in the WASI environment (repeatable)", func(s string) error {
		if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
			return fmt.Errorf("%q is not K=V", s)
		}
		wasi.Env = append(wasi.Env, s)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return fail(stderr, exitUsage, fmt.Errorf("run: %v", err))
	}
	if fs.NArg() < 1 {
		fmt.Fprint(stderr, "sbx: run needs a module and a function\n"+usage)
		return exitUsage
	}
	path, fnName, rawArgs := fs.Arg(0), "", []string(nil)
	if fs.NArg() > 1 {
		fnName, rawArgs = fs.Arg(1), fs.Args()[2:]
	}

	opts := []wasm.Option{wasm.WithExecTimeout(*timeout), wasm.WithFuelLimit(*fuel)}
	if *memory != "" {
		bytes, err := parseSize(*memory)
		if err != nil {
			return fail(stderr, exitUsage, fmt.Errorf("--memory: %v", err))
		}
		opts = append(opts, wasm.WithMemoryLimit(bytes))
	}
	wasmBytes, err := os.ReadFile(path)
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	host, err := wasm.NewHost(opts...)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	defer host.Close()
	ctx := context.Background()

	// WASI is there for modules that import it, and denies all but what the
	// flags give. A command's arguments are known once FUNC is.
	wasi.Stdout, wasi.Stderr = stdout, stderr
	wasi.Args = []string{filepath.Base(path)}
	command := fnName == "_start" || fnName == "--" || fnName == ""
	if command {
		wasi.Args = append(wasi.Args, rawArgs...)
	}
	mod, err := host.LoadModule(ctx, filepath.Base(path), wasmBytes, wasm.WithModuleWASI(wasi))
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	if command {
		if !exports(mod, "_start") {
			if fnName == "" {
				fmt.Fprint(stderr, "sbx: run needs a module and a function\n"+usage)
				return exitUsage
			}
			return fail(stderr, exitFailure, fmt.Errorf("%s exports no _start: it is not a WASI command", path))
		}
		return runStart(ctx, mod, stderr)
	}

	var fn *wasm.Function
	exports := mod.ExportedFunctions()
	for i := range exports {
		if exports[i].Name == fnName {
			fn = &exports[i]
		}
	}
	if fn == nil {
		fmt.Fprintf(stderr, "sbx: %s exports no function %q; its functions are:\n", path, fnName)
		for _, f := range exports {
			fmt.Fprintf(stderr, "  %s\n", f)
		}
		return exitFailure
	}
	if len(rawArgs) != len(fn.Params) {
		return fail(stderr, exitUsage, fmt.Errorf("%s takes %d arguments, got %d", fn, len(fn.Params), len(rawArgs)))
	}
	params := make([]uint64, len(rawArgs))
	for i, raw := range rawArgs {
		if params[i], err = parseValue(raw, fn.Params[i]); err != nil {
			return fail(stderr, exitUsage, fmt.Errorf("argument %d of %s: %v", i+1, fn, err))
		}
	}
	results, err := mod.CallWithTimeout(ctx, fnName, params...)
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	for i, r := range results {
		fmt.Fprintln(stdout, formatValue(r, fn.Results[i]))
	}
	return exitOK
}

// exports says whether mod exports a function called name.
func exports(mod *wasm.Module, name string) bool {
	for _, f := range mod.ExportedFunctions() {
		if f.Name == name {
			return true
		}
	}
	return false
}

// runStart runs a WASI command; its exit code is the command's.
func runStart(ctx context.Context, mod *wasm.Module, stderr io.Writer) int {
	err := mod.Run(ctx)
	var exit *wasm.ExitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &exit):
		if exit.Code < 1 || exit.Code > 255 {
			return exitFailure
		}
		return exit.Code
	default:
		return fail(stderr, exitFailure, err)
	}
}

// parseDir parses --dir HOST[:GUEST][:ro|rw]; GUEST defaults to HOST and
// the access to read-only. HOST and GUEST cannot contain ':'.
func parseDir(s string) (wasm.Dir, error) {
	parts := strings.Split(s, ":")
	d := wasm.Dir{}
	if n := len(parts); n > 1 && (parts[n-1] == "ro" || parts[n-1] == "rw") {
		d.Writable = parts[n-1] == "rw"
		parts = parts[:n-1]
	}
	if len(parts) > 2 || parts[0] == "" || (len(parts) == 2 && parts[1] == "") {
		return d, fmt.Errorf("%q is not HOST[:GUEST][:ro|rw]", s)
	}
	d.HostPath, d.GuestPath = parts[0], parts[0]
	if len(parts) == 2 {
		d.GuestPath = parts[1]
	}
	return d, nil
}

// parseValue parses a command-line argument as a value of type t.
func parseValue(s string, t wasm.ValueType) (uint64, error) {
	switch t {
	case wasm.ValueTypeI32:
		v, err := parseInt(s, 32)
		return uint64(uint32(v)), err
	case wasm.ValueTypeI64:
		v, err := parseInt(s, 64)
		return v, err
	case wasm.ValueTypeF32:
		f, err := strconv.ParseFloat(s, 32)
		if err != nil {
			return 0, fmt.Errorf("%q is not an f32", s)
		}
		return wasm.EncodeF32(float32(f)), nil
	case wasm.ValueTypeF64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not an f64", s)
		}
		return wasm.EncodeF64(f), nil
	default:
		return 0, fmt.Errorf("type %s cannot be passed from the command line", t)
	}
}

// parseInt parses a signed or unsigned integer of the given bit size, in
// decimal or 0x hex, returning its two's-complement bits.
func parseInt(s string, bits int) (uint64, error) {
	base, digits, neg := 10, s, false
	if rest, ok := strings.CutPrefix(digits, "-"); ok {
		digits, neg = rest, true
	}
	if rest, ok := strings.CutPrefix(strings.ToLower(digits), "0x"); ok {
		digits, base = rest, 16
	}
	u, err := strconv.ParseUint(digits, base, bits)
	if err != nil {
		return 0, fmt.Errorf("%q is not an i%d", s, bits)
	}
	if neg {
		if u > 1<<(bits-1) {
			return 0, fmt.Errorf("%q is out of range for i%d", s, bits)
		}
		u = -u
	}
	if bits == 32 {
		u &= math.MaxUint32
	}
	return u, nil
}

// formatValue prints a result in its type: integers signed, floats shortest.
func formatValue(v uint64, t wasm.ValueType) string {
	switch t {
	case wasm.ValueTypeI32:
		return strconv.FormatInt(int64(wasm.DecodeI32(v)), 10)
	case wasm.ValueTypeI64:
		return strconv.FormatInt(wasm.DecodeI64(v), 10)
	case wasm.ValueTypeF32:
		return strconv.FormatFloat(float64(wasm.DecodeF32(v)), 'g', -1, 32)
	case wasm.ValueTypeF64:
		return strconv.FormatFloat(wasm.DecodeF64(v), 'g', -1, 64)
	default:
		return fmt.Sprintf("0x%x", v)
	}
}

// parseSize parses a byte count: a number with an optional unit, KiB, MiB,
// GiB (powers of 1024) or KB, MB, GB (powers of 1000).
func parseSize(s string) (uint64, error) {
	units := []struct {
		suffix string
		scale  uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, scale := strings.TrimSpace(s), uint64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, scale = strings.TrimSpace(rest), u.scale
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n > math.MaxUint64/scale {
		return 0, fmt.Errorf("%q is not a size such as 64MiB", s)
	}
	return n * scale, nil
}

// errorKind names the sentinel an error wraps, for the demo's output.
func errorKind(err error) string {
	var trap *wasm.TrapError
	switch {
	case errors.As(err, &trap):
		return "trap: " + trap.Code.String()
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, wasm.ErrFuelExhausted):
		return "fuel exhausted"
	default:
		return err.Error()
	}
}

// since formats the time since start for the demo.
func since(start time.Time) string {
	d := time.Since(start)
	switch {
	case d < time.Microsecond:
		return d.String()
	case d < time.Millisecond:
		return d.Round(10 * time.Nanosecond).String()
	default:
		return d.Round(10 * time.Microsecond).String()
	}
}
