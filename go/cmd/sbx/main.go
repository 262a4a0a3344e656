// Command sbx runs WebAssembly modules under sbx's limits.
//
//	sbx run [flags] module.wasm [ARGS...]
//	sbx run [flags] --invoke FUNC module.wasm [ARGS...]
//	sbx inspect module.wasm
//	sbx compile --cache-dir DIR [--fuel N] module.wasm...
//	sbx demo [--testdata DIR] [--exec-timeout D]
//
// As with `wasmtime run` and `wazero run`, flags come before the module and
// every word after it goes to the guest: a WASI command (a module exporting
// _start) gets ARGS as its argv[1:] (argv[0] is the module's file name), its
// stdout and stderr are the command's and its exit code becomes the
// command's (1 for a code outside 1..255). --invoke FUNC calls an export
// instead, parsing ARGS by its parameter types (i32 and i64 decimal or
// 0x-prefixed hex, f32 and f64 decimal floats) and printing its results one
// per line. The guest sees no files and no environment but those given with
// --dir, --dir-rw and --env; stdin is empty.
//
// inspect lists a module's imports, exports, memories, tables and globals
// from its binary, without running it. compile fills a compilation cache
// directory that later runs with the same --cache-dir (and the same use of
// --fuel) load from. Every failure exits non-zero with one line on stderr.
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
  sbx run [flags] module.wasm [ARGS...]         run a WASI command; ARGS are its argv[1:]
  sbx run [flags] --invoke FUNC module.wasm [ARGS...]
                                                call an export with typed ARGS, print its results
  sbx inspect module.wasm                       imports, exports, memories, tables, globals
  sbx compile --cache-dir DIR [--fuel N] module.wasm...
                                                compile ahead of time into DIR
  sbx demo [--testdata DIR] [--exec-timeout D]  sbx at work on the repository's fixtures

run flags (before the module; everything after it goes to the guest):
  --invoke FUNC        call the export FUNC instead of _start
  --timeout D          stop the run after D, e.g. 50ms (default: no limit)
  --fuel N             fuel budget, about one unit per instruction (default: unmetered)
  --memory SIZE        linear memory limit, e.g. 64MiB (default 256MiB)
  --dir HOST[::GUEST]  preopen the host directory HOST read-only, at GUEST (default: HOST)
  --dir-rw HOST[::GUEST]
                       the same, read-write
  --env K=V            set K in the guest's environment; --env K copies the host's K
  --cache-dir DIR      keep compiled code in DIR (a directory you trust), as sbx compile does
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
	case "inspect":
		return inspectCommand(args[1:], stdout, stderr)
	case "compile":
		return compileCommand(args[1:], stderr)
	case "demo":
		return demoCommand(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		return usageError(stderr, "unknown command %q", args[0])
	}
}

// fail prints err on one line (a trap's backtrace is left out) and returns
// the exit code.
func fail(stderr io.Writer, code int, err error) int {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	fmt.Fprintf(stderr, "sbx: %s\n", msg)
	return code
}

// usageError reports a bad command line on one line.
func usageError(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "sbx: %s (see sbx help)\n", fmt.Sprintf(format, args...))
	return exitUsage
}

// parseFlags parses a subcommand's flags, which stop at its first
// argument. -h prints the usage to stderr, as the flag package does, and
// exits 0; a bad flag is a usage error.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return exitOK, true
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stderr, usage)
		return exitOK, false
	default:
		return usageError(stderr, "%s: %v", strings.TrimPrefix(fs.Name(), "sbx "), err), false
	}
}

// hostFlags are run's flags that configure the host.
type hostFlags struct {
	timeout  *time.Duration
	fuel     *uint64
	memory   *string
	cacheDir *string
}

func addHostFlags(fs *flag.FlagSet) hostFlags {
	return hostFlags{
		timeout:  fs.Duration("timeout", 0, "stop the run after this long (0: no limit)"),
		fuel:     fs.Uint64("fuel", 0, "fuel budget (0: unmetered)"),
		memory:   fs.String("memory", "", "linear memory limit, e.g. 64MiB (default 256MiB)"),
		cacheDir: fs.String("cache-dir", "", "compilation cache directory"),
	}
}

// options turns the flags into host options.
func (f hostFlags) options() ([]wasm.Option, error) {
	opts := []wasm.Option{wasm.WithExecTimeout(*f.timeout), wasm.WithFuelLimit(*f.fuel)}
	if *f.memory != "" {
		bytes, err := parseSize(*f.memory)
		if err != nil {
			return nil, fmt.Errorf("--memory: %v", err)
		}
		opts = append(opts, wasm.WithMemoryLimit(bytes))
	}
	if *f.cacheDir != "" {
		opts = append(opts, wasm.WithCompilationCache(*f.cacheDir))
	}
	return opts, nil
}

func runCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sbx run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	hf := addHostFlags(fs)
	invoke := fs.String("invoke", "", "call this export instead of _start")
	var wasi wasm.WASIConfig
	for _, name := range []string{"dir", "dir-rw"} {
		writable := name == "dir-rw"
		fs.Func(name, "preopen HOST[::GUEST]", func(s string) error {
			d, err := parseDir(s, writable)
			wasi.Dirs = append(wasi.Dirs, d)
			return err
		})
	}
	fs.Func("env", "set K=V (or copy the host's K) in the guest's environment", func(s string) error {
		kv, err := parseEnv(s, os.LookupEnv)
		wasi.Env = append(wasi.Env, kv)
		return err
	})
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if fs.NArg() < 1 {
		return usageError(stderr, "run needs a module")
	}
	path, guestArgs := fs.Arg(0), fs.Args()[1:]
	if len(guestArgs) > 0 && guestArgs[0] == "--" { // the form before ARGS went to the guest
		guestArgs = guestArgs[1:]
	}
	opts, err := hf.options()
	if err != nil {
		return usageError(stderr, "run: %v", err)
	}
	wasmBytes, err := os.ReadFile(path)
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	host, err := wasm.NewHost(opts...)
	if err != nil {
		code := exitFailure // e.g. a --cache-dir that cannot be created
		if errors.Is(err, wasm.ErrInvalidOption) {
			code = exitUsage // e.g. --memory out of range
		}
		return fail(stderr, code, err)
	}
	defer host.Close()
	ctx := context.Background()

	// WASI is there for modules that import it, and denies all but what the
	// flags give. With --invoke the ARGS are the export's, not the guest's.
	name := filepath.Base(path)
	wasi.Stdout, wasi.Stderr = stdout, stderr
	wasi.Args = []string{name}
	if *invoke == "" {
		wasi.Args = append(wasi.Args, guestArgs...)
	}
	mod, err := host.LoadModule(ctx, name, wasmBytes, wasm.WithModuleWASI(wasi))
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	fnName := *invoke
	if fnName == "" {
		switch {
		case exports(mod, "_start"):
			return guestExit(stderr, mod.Run(ctx))
		case len(guestArgs) > 0 && exports(mod, guestArgs[0]):
			// The form before --invoke: module.wasm FUNC ARGS, for a
			// module that is not a command (and so takes no argv).
			fnName, guestArgs = guestArgs[0], guestArgs[1:]
		default:
			return fail(stderr, exitFailure, fmt.Errorf("%s is not a WASI command (it exports no _start); "+
				"call one of its functions with --invoke: %s", name, functionList(mod)))
		}
	}
	return invokeFunction(ctx, mod, fnName, guestArgs, stdout, stderr)
}

// invokeFunction calls the export fnName with rawArgs parsed by its
// parameter types and prints its results one per line.
func invokeFunction(ctx context.Context, mod *wasm.Module, fnName string, rawArgs []string, stdout, stderr io.Writer) int {
	var fn *wasm.Function
	exports := mod.ExportedFunctions()
	for i := range exports {
		if exports[i].Name == fnName {
			fn = &exports[i]
		}
	}
	if fn == nil {
		return fail(stderr, exitFailure, fmt.Errorf("%s exports no function %q; its functions: %s",
			mod.Name(), fnName, functionList(mod)))
	}
	if len(rawArgs) != len(fn.Params) {
		return fail(stderr, exitUsage, fmt.Errorf("%s takes %d arguments, got %d", fn, len(fn.Params), len(rawArgs)))
	}
	params := make([]uint64, len(rawArgs))
	for i, raw := range rawArgs {
		var err error
		if params[i], err = parseValue(raw, fn.Params[i]); err != nil {
			return fail(stderr, exitUsage, fmt.Errorf("argument %d of %s: %v", i+1, fn, err))
		}
	}
	results, err := mod.CallWithTimeout(ctx, fnName, params...)
	if err != nil {
		return guestExit(stderr, err)
	}
	for i, r := range results {
		fmt.Fprintln(stdout, formatValue(r, fn.Results[i]))
	}
	return exitOK
}

// functionList is the module's exported functions with their signatures,
// on one line.
func functionList(mod *wasm.Module) string {
	var names []string
	for _, f := range mod.ExportedFunctions() {
		names = append(names, f.String())
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "; ")
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

// guestExit turns the outcome of a run or call into the command's exit
// code: a WASI exit code is the command's own.
func guestExit(stderr io.Writer, err error) int {
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

// parseDir parses a --dir or --dir-rw value. HOST::GUEST (wasmtime's
// form) maps HOST to GUEST and takes both verbatim, so either may contain
// single colons; HOST alone maps to the same path. --dir also keeps the
// older HOST:GUEST[:ro|rw] form, so there a path with a colon needs "::".
func parseDir(s string, writable bool) (wasm.Dir, error) {
	d := wasm.Dir{Writable: writable}
	bad := fmt.Errorf("%q is not HOST[::GUEST] (a path containing ':' needs the HOST::GUEST form)", s)
	if host, guest, ok := strings.Cut(s, "::"); ok {
		if host == "" || guest == "" {
			return d, fmt.Errorf("%q is not HOST::GUEST", s)
		}
		d.HostPath, d.GuestPath = host, guest
		return d, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) > 1 && writable {
		return d, bad
	}
	if n := len(parts); n > 1 && (parts[n-1] == "ro" || parts[n-1] == "rw") {
		d.Writable = parts[n-1] == "rw"
		parts = parts[:n-1]
	}
	if len(parts) > 2 || parts[0] == "" || (len(parts) == 2 && parts[1] == "") {
		return d, bad
	}
	d.HostPath, d.GuestPath = parts[0], parts[0]
	if len(parts) == 2 {
		d.GuestPath = parts[1]
	}
	return d, nil
}

// parseEnv parses an --env value: K=V, or K alone for the host's value of
// K, as wasmtime does.
func parseEnv(s string, lookup func(string) (string, bool)) (string, error) {
	k, _, hasValue := strings.Cut(s, "=")
	switch {
	case k == "":
		return s, fmt.Errorf("%q is not K=V or K", s)
	case hasValue:
		return s, nil
	}
	v, ok := lookup(k)
	if !ok {
		return s, fmt.Errorf("%s is not set in sbx's environment (give --env %s=VALUE)", k, k)
	}
	return k + "=" + v, nil
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

// formatValue prints a result in its type as wasmtime does (Rust's
// Display): integers signed, floats in the shortest decimal that reads
// back exactly, without an exponent; inf, -inf and NaN.
func formatValue(v uint64, t wasm.ValueType) string {
	switch t {
	case wasm.ValueTypeI32:
		return strconv.FormatInt(int64(wasm.DecodeI32(v)), 10)
	case wasm.ValueTypeI64:
		return strconv.FormatInt(wasm.DecodeI64(v), 10)
	case wasm.ValueTypeF32:
		return formatFloat(float64(wasm.DecodeF32(v)), 32)
	case wasm.ValueTypeF64:
		return formatFloat(wasm.DecodeF64(v), 64)
	default:
		return fmt.Sprintf("0x%x", v)
	}
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'f', -1, bits)
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
