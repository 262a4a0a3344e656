package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sbx-run/sbx/go/wasm"
)

// demoCommand shows sbx at work on the repository's fixtures: a call, a
// runaway loop stopped by a timeout (and a module reset after one), a call
// stopped by its fuel budget, the README's plugin (WASI, guest memory and a
// host function), and the command line.
func demoCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sbx demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	testdata := fs.String("testdata", "", "the fixtures directory (default: testdata or ../testdata)")
	execTimeout := fs.Duration("exec-timeout", 50*time.Millisecond, "the host's ExecTimeout, which stops the runaway guests")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	dir := *testdata
	if dir == "" {
		for _, candidate := range []string{"testdata", filepath.Join("..", "testdata")} {
			if _, err := os.Stat(filepath.Join(candidate, "add.wasm")); err == nil {
				dir = candidate
				break
			}
		}
		if dir == "" {
			return fail(stderr, exitUsage, fmt.Errorf("demo: cannot find testdata/add.wasm; pass --testdata DIR"))
		}
	}
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name+".wasm")) }
	ctx := context.Background()
	out := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }

	out("sbx %s: untrusted WebAssembly under hard limits (fixtures in %s)", wasm.Version(), dir)

	// 1. A plain call.
	if *execTimeout <= 0 {
		return fail(stderr, exitUsage, fmt.Errorf("demo: --exec-timeout must be positive"))
	}
	host, err := wasm.NewHost(wasm.WithExecTimeout(*execTimeout))
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	defer host.Close()
	addBytes, err := read("add")
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	start := time.Now()
	add, err := host.LoadModule(ctx, "add", addBytes)
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	out("\nload add.wasm (compile + instantiate)        %s", since(start))
	start = time.Now()
	res, err := add.CallWithTimeout(ctx, "add", wasm.EncodeI32(2), wasm.EncodeI32(40))
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	first := since(start)
	const calls = 100_000
	start = time.Now()
	for i := 0; i < calls; i++ {
		if _, err := add.CallWithTimeout(ctx, "add", 1, 2); err != nil {
			return fail(stderr, exitFailure, err)
		}
	}
	perCall := time.Since(start) / calls
	out("add(2, 40) = %d                               first call %s; %v per call over %d calls",
		wasm.DecodeI32(res[0]), first, perCall, calls)

	// 2. A runaway guest, stopped by the exec timeout (50 ms by default).
	loopBytes, err := read("infinite_loop")
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	loop, err := host.LoadModule(ctx, "infinite_loop", loopBytes)
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	start = time.Now()
	_, err = loop.CallWithTimeout(ctx, "loop")
	if err == nil {
		return fail(stderr, exitFailure, fmt.Errorf("demo: loop() returned"))
	}
	out("\nloop() never returns; with a %s timeout it was stopped after %s (%s)", *execTimeout, since(start), errorKind(err))

	// The same, stopped by cancelling its context after 20 ms.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	start = time.Now()
	_, err = loop.CallWithTimeout(cctx, "loop")
	cancel()
	out("loop() with its context cancelled at 20ms returned after %s (%s)", since(start), errorKind(err))

	// A reset after that timeout: the next call starts fresh.
	resetBytes, err := read("reset_state")
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	if err := demoReset(ctx, host, resetBytes, out); err != nil {
		return fail(stderr, exitFailure, err)
	}

	// 3. Fuel: a budget of instructions per call.
	fuelHost, err := wasm.NewHost(wasm.WithFuelLimit(1_000_000))
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	defer fuelHost.Close()
	fibBytes, err := read("fib")
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	fib, err := fuelHost.LoadModule(ctx, "fib", fibBytes)
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	start = time.Now()
	res, err = fib.CallWithTimeout(ctx, "fib", wasm.EncodeI32(20))
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	took := since(start)
	used, _ := fib.FuelConsumed()
	out("\nwith 1,000,000 fuel per call: fib(20) = %d in %s, using %d fuel", wasm.DecodeI32(res[0]), took, used)
	start = time.Now()
	_, err = fib.CallWithTimeout(ctx, "fib", wasm.EncodeI32(35))
	used, _ = fib.FuelConsumed()
	out("fib(35) was stopped after %s, using %d fuel (%s)", since(start), used, errorKind(err))

	// 4. The README's plugin: a C program (WASI reactor) that reads its
	// input from its memory, calls back into the host and prints.
	if err := demoPlugin(ctx, dir, out); err != nil {
		return fail(stderr, exitFailure, err)
	}

	// 5. The command line, run in-process on the same fixtures.
	out("\nthe sbx command:")
	for _, args := range [][]string{
		{"run", "--invoke", "add", "add.wasm", "2", "40"},
		{"run", "wasi/env_args.wasm", "-v", "two words"},
		{"run", "wasi/exit3.wasm"},
		{"inspect", "wasi/plugin.wasm"},
	} {
		shown := make([]string, len(args))
		for i, a := range args {
			shown[i] = a
			if strings.Contains(a, " ") {
				shown[i] = strconv.Quote(a)
			}
		}
		out("$ sbx %s", strings.Join(shown, " "))
		full := append([]string(nil), args...)
		for i, a := range full {
			if strings.HasSuffix(a, ".wasm") {
				full[i] = filepath.Join(dir, a)
			}
		}
		var output bytes.Buffer
		code := run(full, &output, &output)
		text := output.String()
		if before, _, cut := strings.Cut(text, "memories ("); cut { // the rest is in the README
			text = before + "  ...\n"
		}
		fmt.Fprint(stdout, text)
		if code != 0 {
			out("(exit status %d)", code)
		}
	}
	return exitOK
}

// demoPlugin runs testdata/wasi/plugin.wasm as the README's example does:
// host.shout reads the plugin's memory through the caller; the plugin's
// printf output is captured through WASI.
func demoPlugin(ctx context.Context, dir string, out func(string, ...any)) error {
	host, err := wasm.NewHost(wasm.WithExecTimeout(time.Second))
	if err != nil {
		return err
	}
	defer host.Close()
	i32 := wasm.ValueTypeI32
	var shouted string
	err = host.DefineFunction("host", "shout", []wasm.ValueType{i32, i32}, []wasm.ValueType{i32},
		func(ctx context.Context, caller *wasm.Caller, stack []uint64) error {
			text, ok := caller.Memory().Read(wasm.DecodeU32(stack[0]), wasm.DecodeU32(stack[1]))
			if !ok {
				return fmt.Errorf("input outside the plugin's memory")
			}
			shouted = string(text)
			stack[0] = wasm.EncodeI32(41)
			return nil
		})
	if err != nil {
		return err
	}
	wasmBytes, err := os.ReadFile(filepath.Join(dir, "wasi", "plugin.wasm"))
	if err != nil {
		return err
	}
	var stdout bytes.Buffer
	start := time.Now()
	plugin, err := host.LoadModule(ctx, "plugin", wasmBytes, wasm.WithModuleWASI(wasm.WASIConfig{Stdout: &stdout}))
	if err != nil {
		return err
	}
	defer plugin.Close(ctx)
	loaded := since(start)
	res, err := plugin.CallWithTimeout(ctx, "input_buffer")
	if err != nil {
		return err
	}
	input := []byte("world")
	if !plugin.Memory().Write(wasm.DecodeU32(res[0]), input) {
		return fmt.Errorf("the input does not fit in the plugin's memory")
	}
	start = time.Now()
	res, err = plugin.CallWithTimeout(ctx, "greet", wasm.EncodeU32(uint32(len(input))))
	if err != nil {
		return err
	}
	out("\nplugin (C, WASI) loaded in %s; greet(%q) took %s and returned %d", loaded, input, since(start), wasm.DecodeI32(res[0]))
	out("  host.shout received %q from the plugin's memory", shouted)
	out("  the plugin printed: %s", strings.TrimSpace(stdout.String()))
	return nil
}
