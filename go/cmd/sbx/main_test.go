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

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", fixture("add"), "add", "2", "3"}, "5\n"},
		{[]string{"run", fixture("add"), "add", "-7", "0x2"}, "-5\n"},
		{[]string{"run", fixture("add"), "add", "0xffffffff", "1"}, "0\n"},
		{[]string{"run", fixture("all_types"), "id_i64", "-9223372036854775808"}, "-9223372036854775808\n"},
		{[]string{"run", fixture("all_types"), "neg_f32", "1.5"}, "-1.5\n"},
		{[]string{"run", fixture("all_types"), "add_f64", "0.1", "0.2"}, "0.30000000000000004\n"},
		{[]string{"run", fixture("all_types"), "swap", "7", "-9"}, "-9\n7\n"},
		{[]string{"run", "--timeout", "1s", "--fuel", "100000", "--memory", "1MiB", fixture("memory_bomb"), "grow_all"}, "16\n"},
		{[]string{"run", fixture("noop"), "noop"}, ""},
	} {
		code, stdout, stderr := sbx(tc.args...)
		if code != 0 || stdout != tc.want {
			t.Errorf("sbx %s: exit %d, stdout %q, stderr %q; want %q",
				strings.Join(tc.args, " "), code, stdout, stderr, tc.want)
		}
	}
}

func TestRunFailures(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"run", "--timeout", "50ms", fixture("infinite_loop"), "loop"}, "deadline"},
		{[]string{"run", "--fuel", "1000", fixture("infinite_loop"), "loop"}, "fuel"},
		{[]string{"run", fixture("trap_unreachable"), "run"}, "unreachable"},
		{[]string{"run", fixture("add"), "add", "1"}, "takes 2 arguments"},
		{[]string{"run", fixture("add"), "add", "1", "x"}, "is not an i32"},
		{[]string{"run", fixture("add"), "add", "1", "4294967296"}, "is not an i32"},
		{[]string{"run", fixture("unresolved_import"), "run"}, "missing_function"},
		{[]string{"run", "--memory", "lots", fixture("add"), "add", "1", "2"}, "--memory"},
		{[]string{"run", "--memory", "1KiB", fixture("add"), "add", "1", "2"}, "WithMemoryLimit"},
		{[]string{"run", "--bogus", fixture("add"), "add"}, "bogus"},
		{[]string{"run", "no/such/file.wasm", "f"}, "no such file"},
		{[]string{"run", fixture("add")}, "needs a module and a function"},
		{[]string{"frobnicate"}, "unknown command"},
		{nil, "usage"},
	} {
		code, stdout, stderr := sbx(tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("sbx %s: exit %d, stdout %q, stderr %q; want failure mentioning %q",
				strings.Join(tc.args, " "), code, stdout, stderr, tc.want)
		}
		if !strings.Contains(stderr, "usage:") && strings.Count(stderr, "\n") != 1 {
			t.Errorf("sbx %s: message is not one line: %q", strings.Join(tc.args, " "), stderr)
		}
	}
}

func TestRunUnknownFunctionListsExports(t *testing.T) {
	code, _, stderr := sbx("run", fixture("all_types"), "nope")
	if code == 0 {
		t.Fatal("exit 0")
	}
	for _, want := range []string{`no function "nope"`, "id_i32(i32) -> i32", "swap(i32, i64) -> (i64, i32)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks %q", stderr, want)
		}
	}
}

func TestDemo(t *testing.T) {
	code, stdout, stderr := sbx("demo", "--testdata", filepath.Join("..", "..", "..", "testdata"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"add(2, 40) = 42", "stopped after", "deadline exceeded", "canceled",
		"fib(20) = 6765", "fuel exhausted", "returned 42", `host.shout received "world"`,
		"the plugin printed: hello, world!"} {
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
