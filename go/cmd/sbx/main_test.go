package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func fixture(name string) string { return filepath.Join("..", "..", "..", "testdata", name+".wasm") }

// sbx runs the command in-process and returns its exit code and output.
func sbx(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// result is what a command line must produce, exactly.
type result struct {
	code           int
	stdout, stderr string
}

func check(t *testing.T, args []string, want result) {
	t.Helper()
	code, stdout, stderr := sbx(args...)
	if got := (result{code, stdout, stderr}); got != want {
		t.Errorf("sbx %s:\n got exit %d, stdout %q, stderr %q\nwant exit %d, stdout %q, stderr %q",
			strings.Join(args, " "), code, stdout, stderr, want.code, want.stdout, want.stderr)
	}
}

func TestInvoke(t *testing.T) {
	add, types := fixture("add"), fixture("all_types")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--invoke", "add", add, "2", "3"}, "5\n"},
		{[]string{"--invoke", "add", add, "-7", "0x2"}, "-5\n"}, // "-7" is an argument, not a flag
		{[]string{"--invoke", "add", add, "0xffffffff", "1"}, "0\n"},
		{[]string{"--invoke", "add", add, "2147483647", "1"}, "-2147483648\n"},
		{[]string{"--invoke", "id_i64", types, "-9223372036854775808"}, "-9223372036854775808\n"},
		{[]string{"--invoke", "id_i64", types, "0x7fffffffffffffff"}, "9223372036854775807\n"},
		{[]string{"--invoke", "neg_f32", types, "1.5"}, "-1.5\n"},
		{[]string{"--invoke", "id_f32", types, "0.1"}, "0.1\n"},
		{[]string{"--invoke", "id_f32", types, "-inf"}, "-inf\n"},
		{[]string{"--invoke", "add_f64", types, "0.1", "0.2"}, "0.30000000000000004\n"},
		{[]string{"--invoke", "id_f64", types, "1e20"}, "100000000000000000000\n"},
		{[]string{"--invoke", "id_f64", types, "-1e-7"}, "-0.0000001\n"},
		{[]string{"--invoke", "id_f64", types, "inf"}, "inf\n"},
		{[]string{"--invoke", "id_f64", types, "nan"}, "NaN\n"},
		{[]string{"--invoke", "mix", types, "1", "-2", "0.5", "0.25"}, "-0.25\n"},
		{[]string{"--invoke", "swap", types, "7", "-9"}, "-9\n7\n"},
		{[]string{"--timeout", "1s", "--fuel", "100000", "--memory", "1MiB", "--invoke", "grow_all", fixture("memory_bomb")}, "16\n"},
		{[]string{"--invoke", "noop", fixture("noop")}, ""},
		// Flags end at "--" as well as at the module.
		{[]string{"--invoke", "add", "--", add, "1", "2"}, "3\n"},
		// The form before --invoke, for a module that is not a command.
		{[]string{add, "add", "2", "3"}, "5\n"},
		{[]string{add, "--", "add", "2", "3"}, "5\n"},
	} {
		check(t, append([]string{"run"}, tc.args...), result{0, tc.want, ""})
	}
}

func TestInvokeFailures(t *testing.T) {
	add, types := fixture("add"), fixture("all_types")
	for _, tc := range []struct {
		args []string
		want result
	}{
		{[]string{"--invoke", "add", add, "1"}, result{2, "", "sbx: add(i32, i32) -> i32 takes 2 arguments, got 1\n"}},
		{[]string{"--invoke", "add", add, "1", "2", "3"}, result{2, "", "sbx: add(i32, i32) -> i32 takes 2 arguments, got 3\n"}},
		{[]string{"--invoke", "add", add, "1", "x"}, result{2, "", `sbx: argument 2 of add(i32, i32) -> i32: "x" is not an i32` + "\n"}},
		{[]string{"--invoke", "add", add, "1.5", "1"}, result{2, "", `sbx: argument 1 of add(i32, i32) -> i32: "1.5" is not an i32` + "\n"}},
		{[]string{"--invoke", "add", add, "1", "4294967296"}, result{2, "", `sbx: argument 2 of add(i32, i32) -> i32: "4294967296" is not an i32` + "\n"}},
		{[]string{"--invoke", "add", add, "-2147483649", "0"}, result{2, "", `sbx: argument 1 of add(i32, i32) -> i32: "-2147483649" is out of range for i32` + "\n"}},
		{[]string{"--invoke", "id_i64", types, "18446744073709551616"}, result{2, "", `sbx: argument 1 of id_i64(i64) -> i64: "18446744073709551616" is not an i64` + "\n"}},
		{[]string{"--invoke", "id_f32", types, "1,5"}, result{2, "", `sbx: argument 1 of id_f32(f32) -> f32: "1,5" is not an f32` + "\n"}},
		{[]string{"--invoke", "id_f64", types, "x"}, result{2, "", `sbx: argument 1 of id_f64(f64) -> f64: "x" is not an f64` + "\n"}},
		{[]string{"--invoke", "v128_param", types, "0"}, result{2, "", "sbx: argument 1 of v128_param(v128): type v128 cannot be passed from the command line\n"}},
		{[]string{"--invoke", "nope", types}, result{1, "", `sbx: all_types.wasm exports no function "nope"; its functions: id_i32(i32) -> i32; ` +
			"id_i64(i64) -> i64; id_f32(f32) -> f32; id_f64(f64) -> f64; neg_f32(f32) -> f32; add_f64(f64, f64) -> f64; " +
			"swap(i32, i64) -> (i64, i32); mix(i32, i64, f32, f64) -> f64; v128_param(v128); funcref_result() -> funcref\n"}},
		{[]string{"--invoke", "_start", add}, result{1, "", `sbx: add.wasm exports no function "_start"; its functions: add(i32, i32) -> i32` + "\n"}},
		{[]string{add}, result{1, "", "sbx: add.wasm is not a WASI command (it exports no _start); call one of its functions with --invoke: add(i32, i32) -> i32\n"}},
		{[]string{add, "sub", "1", "2"}, result{1, "", "sbx: add.wasm is not a WASI command (it exports no _start); call one of its functions with --invoke: add(i32, i32) -> i32\n"}},
		{[]string{"--invoke"}, result{2, "", "sbx: run: flag needs an argument: -invoke (see sbx help)\n"}},
		{nil, result{2, "", "sbx: run needs a module (see sbx help)\n"}},
		{[]string{"--bogus", add}, result{2, "", "sbx: run: flag provided but not defined: -bogus (see sbx help)\n"}},
		{[]string{"--memory", "lots", add}, result{2, "", `sbx: run: --memory: "lots" is not a size such as 64MiB (see sbx help)` + "\n"}},
		{[]string{"no/such/file.wasm"}, result{1, "", "sbx: open no/such/file.wasm: no such file or directory\n"}},
	} {
		check(t, append([]string{"run"}, tc.args...), tc.want)
	}
}

// Failures whose text comes from the library: the exit code and the gist.
func TestRunFailures(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string // in stderr
	}{
		{[]string{"--timeout", "50ms", "--invoke", "loop", fixture("infinite_loop")}, 1, "deadline"},
		{[]string{"--fuel", "1000", "--invoke", "loop", fixture("infinite_loop")}, 1, "fuel"},
		{[]string{"--invoke", "run", fixture("trap_unreachable")}, 1, "unreachable"},
		{[]string{"--invoke", "funcref_result", fixture("all_types")}, 1, "funcref"},
		{[]string{"--invoke", "run", fixture("unresolved_import")}, 1, "missing_function"},
		{[]string{"--memory", "1KiB", "--invoke", "add", fixture("add"), "1", "2"}, 2, "memory limit 1024 is outside 64 KiB..=4 GiB"},
	} {
		args := append([]string{"run"}, tc.args...)
		code, stdout, stderr := sbx(args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || stdout != "" || strings.Count(stderr, "\n") != 1 ||
			!strings.HasPrefix(stderr, "sbx: ") {
			t.Errorf("sbx %s: exit %d, stdout %q, stderr %q; want exit %d and one line mentioning %q",
				strings.Join(args, " "), code, stdout, stderr, tc.code, tc.want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	check(t, []string{"frobnicate"}, result{2, "", `sbx: unknown command "frobnicate" (see sbx help)` + "\n"})
	check(t, []string{"help"}, result{0, usage, ""})
	check(t, nil, result{2, "", usage})
	check(t, []string{"run", "-h"}, result{0, "", usage})
	check(t, []string{"compile", "--help"}, result{0, "", usage})
	check(t, []string{"inspect", "--x", "a.wasm"}, result{2, "", "sbx: inspect: flag provided but not defined: -x (see sbx help)\n"})
	check(t, []string{"demo", "--testdata"}, result{2, "", "sbx: demo: flag needs an argument: -testdata (see sbx help)\n"})
	check(t, []string{"inspect"}, result{2, "", "sbx: inspect needs one module, got 0 arguments (see sbx help)\n"})
	check(t, []string{"inspect", "no/such.wasm"}, result{1, "", "sbx: open no/such.wasm: no such file or directory\n"})
	wat := filepath.Join("..", "..", "..", "testdata", "add.wat")
	check(t, []string{"inspect", wat}, result{1, "", "sbx: " + wat + `: not a WebAssembly binary (no \0asm magic)` + "\n"})
}

func TestDemo(t *testing.T) {
	// A generous exec timeout: every call of the demo, the reset before one
	// included, must fit in it, under qemu and on a loaded machine too.
	code, stdout, stderr := sbx("demo", "--testdata", filepath.Join("..", "..", "..", "testdata"), "--exec-timeout", "1s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"add(2, 40) = 42", "stopped after", "deadline exceeded", "canceled",
		"fib(20) = 6765", "fuel exhausted", "returned 42", `host.shout received "world"`,
		"the plugin printed: hello, world!",
		"$ sbx run --invoke add add.wasm 2 40\n42\n",
		"$ sbx run wasi/env_args.wasm -v \"two words\"\narg[0]=env_args.wasm\narg[1]=-v\narg[2]=two words\n",
		"$ sbx run wasi/exit3.wasm\nexiting with 3\n(exit status 3)\n",
		"kind: WASI reactor",
		"memory[0] = 42; mutate_then_spin() set it to 99 and was stopped (deadline exceeded)",
		"the next call starts fresh: memory[0] = 42 (1 reset)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	if code, _, _ := sbx("demo", "--testdata", t.TempDir()); code == 0 {
		t.Error("demo with no fixtures succeeded")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{"65536": 65536, "64KiB": 64 << 10, "64MiB": 64 << 20,
		"1GiB": 1 << 30, "2MB": 2e6, "10B": 10} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "99999999999999GiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}
