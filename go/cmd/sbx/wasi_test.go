package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sbx-run/sbx/go/wasm"
)

func wasiFixture(name string) string {
	return filepath.Join("..", "..", "..", "testdata", "wasi", name+".wasm")
}

// hostDir makes a directory holding input.txt; its name has a colon in it.
func hostDir(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "in:put")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "input.txt"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRunWASICommands(t *testing.T) {
	dir := hostDir(t)
	plain := filepath.Dir(dir) // no colon
	if err := os.WriteFile(filepath.Join(plain, "input.txt"), []byte("plain\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SBX_TEST_INHERITED", "from sbx")
	envArgs := wasiFixture("env_args")
	for _, tc := range []struct {
		args []string
		want result
	}{
		{[]string{wasiFixture("hello")}, result{0, "hello from wasi\n", "warning: to stderr\n"}},
		// The guest's exit code is the command's.
		{[]string{wasiFixture("exit3")}, result{3, "exiting with 3\n", ""}},
		{[]string{"--invoke", "_start", wasiFixture("exit3")}, result{3, "exiting with 3\n", ""}},
		// Every word after the module is the guest's, flags included.
		{[]string{envArgs, "one", "two words"}, result{0, "arg[0]=env_args.wasm\narg[1]=one\narg[2]=two words\n", ""}},
		{[]string{envArgs, "-v", "--timeout", "1s"}, result{0, "arg[0]=env_args.wasm\narg[1]=-v\narg[2]=--timeout\narg[3]=1s\n", ""}},
		{[]string{envArgs, "_start"}, result{0, "arg[0]=env_args.wasm\narg[1]=_start\n", ""}},
		// A "--" right after the module is dropped (the older form), once.
		{[]string{envArgs, "--", "-v"}, result{0, "arg[0]=env_args.wasm\narg[1]=-v\n", ""}},
		{[]string{envArgs, "--", "--"}, result{0, "arg[0]=env_args.wasm\narg[1]=--\n", ""}},
		{[]string{"--", envArgs, "x"}, result{0, "arg[0]=env_args.wasm\narg[1]=x\n", ""}},
		{[]string{"--env", "A=1", "--env", "B=x=y", "--env", "SBX_TEST_INHERITED", "--env", "E=", envArgs}, result{0,
			"arg[0]=env_args.wasm\nenv A=1\nenv B=x=y\nenv SBX_TEST_INHERITED=from sbx\nenv E=\n", ""}},
		// --dir forms: HOST::GUEST takes paths with colons verbatim.
		{[]string{"--dir", dir + "::/data", wasiFixture("cat")}, result{0, "from the host\n", ""}},
		{[]string{"--dir", dir + "::" + dir, wasiFixture("cat"), dir + "/input.txt"}, result{0, "from the host\n", ""}},
		{[]string{"--dir", plain, wasiFixture("cat"), plain + "/input.txt"}, result{0, "plain\n", ""}},
		{[]string{"--dir", plain + ":/data", wasiFixture("cat")}, result{0, "plain\n", ""}}, // the older form
		{[]string{"--dir", plain + "::/a:b", wasiFixture("cat"), "/a:b/input.txt"}, result{0, "plain\n", ""}},
		{[]string{wasiFixture("cat")}, result{1, "", "cat: /data/input.txt: Capabilities insufficient\n"}},
		// Read-only unless --dir-rw (or the older :rw suffix).
		{[]string{"--dir", dir + "::/data", wasiFixture("write_ro")}, result{0, "DENIED /data/out.txt (Operation not permitted)\n", ""}},
		{[]string{"--dir", plain + ":/data:ro", wasiFixture("write_ro")}, result{0, "DENIED /data/out.txt (Operation not permitted)\n", ""}},
		{[]string{"--dir-rw", dir + "::/data", wasiFixture("write_ro")}, result{1, "WROTE /data/out.txt\n", ""}},
		{[]string{"--dir", plain + ":/data:rw", wasiFixture("write_ro")}, result{1, "WROTE /data/out.txt\n", ""}},
		{[]string{wasiFixture("echo_stdin")}, result{0, "\n0 bytes\n", ""}},
	} {
		check(t, append([]string{"run"}, tc.args...), tc.want)
	}
	for _, d := range []string{dir, plain} {
		if _, err := os.Stat(filepath.Join(d, "out.txt")); err != nil {
			t.Errorf("the rw run wrote nothing in %s: %v", d, err)
		}
	}
}

func TestRunWASIFailures(t *testing.T) {
	hello := wasiFixture("hello")
	for _, tc := range []struct {
		args []string
		want result
	}{
		{[]string{"--dir", "a:b:c:ro", hello}, result{2, "", `sbx: run: invalid value "a:b:c:ro" for flag -dir: ` +
			`"a:b:c:ro" is not HOST[::GUEST] (a path containing ':' needs the HOST::GUEST form) (see sbx help)` + "\n"}},
		{[]string{"--dir-rw", "a:b:rw", hello}, result{2, "", `sbx: run: invalid value "a:b:rw" for flag -dir-rw: ` +
			`"a:b:rw" is not HOST[::GUEST] (a path containing ':' needs the HOST::GUEST form) (see sbx help)` + "\n"}},
		{[]string{"--dir", "::x", hello}, result{2, "", `sbx: run: invalid value "::x" for flag -dir: "::x" is not HOST::GUEST (see sbx help)` + "\n"}},
		{[]string{"--env", "=x", hello}, result{2, "", `sbx: run: invalid value "=x" for flag -env: "=x" is not K=V or K (see sbx help)` + "\n"}},
		{[]string{"--env", "SBX_TEST_UNSET", hello}, result{2, "", `sbx: run: invalid value "SBX_TEST_UNSET" for flag -env: ` +
			"SBX_TEST_UNSET is not set in sbx's environment (give --env SBX_TEST_UNSET=VALUE) (see sbx help)\n"}},
	} {
		check(t, append([]string{"run"}, tc.args...), tc.want)
	}
	for _, tc := range []struct {
		args       []string
		code       int
		wantStderr string
	}{
		{[]string{"--timeout", "50ms", wasiFixture("spin")}, 1, "deadline"},
		{[]string{"--dir", "/no/such/dir", hello}, 1, "/no/such/dir"},
	} {
		code, stdout, stderr := sbx(append([]string{"run"}, tc.args...)...)
		if code != tc.code || stdout != "" || !containsOneLine(stderr, tc.wantStderr) {
			t.Errorf("sbx run %v: exit %d, stdout %q, stderr %q; want exit %d, one line mentioning %q",
				tc.args, code, stdout, stderr, tc.code, tc.wantStderr)
		}
	}
}

// containsOneLine says whether s is one "sbx: " line containing sub.
func containsOneLine(s, sub string) bool {
	return strings.HasPrefix(s, "sbx: ") && strings.Count(s, "\n") == 1 && strings.HasSuffix(s, "\n") && strings.Contains(s, sub)
}

func TestParseDir(t *testing.T) {
	for _, tc := range []struct {
		in       string
		writable bool
		want     wasm.Dir
	}{
		{"data", false, wasm.Dir{HostPath: "data", GuestPath: "data"}},
		{"data", true, wasm.Dir{HostPath: "data", GuestPath: "data", Writable: true}},
		{"/tmp/x::/data", false, wasm.Dir{HostPath: "/tmp/x", GuestPath: "/data"}},
		{"/tmp/x::/data", true, wasm.Dir{HostPath: "/tmp/x", GuestPath: "/data", Writable: true}},
		{"/a:b::/c:d", false, wasm.Dir{HostPath: "/a:b", GuestPath: "/c:d"}},
		{"/a::/b:rw", false, wasm.Dir{HostPath: "/a", GuestPath: "/b:rw"}}, // no suffix in the :: form
		{"/a::/b::c", false, wasm.Dir{HostPath: "/a", GuestPath: "/b::c"}},
		// The older single-colon form.
		{"data:/d", false, wasm.Dir{HostPath: "data", GuestPath: "/d"}},
		{"data:ro", false, wasm.Dir{HostPath: "data", GuestPath: "data"}},
		{"data:rw", false, wasm.Dir{HostPath: "data", GuestPath: "data", Writable: true}},
		{"/tmp/x:/data:rw", false, wasm.Dir{HostPath: "/tmp/x", GuestPath: "/data", Writable: true}},
		{"/tmp/x:/data/rw", false, wasm.Dir{HostPath: "/tmp/x", GuestPath: "/data/rw"}},
		{"/tmp/ro:/data:rw", false, wasm.Dir{HostPath: "/tmp/ro", GuestPath: "/data", Writable: true}},
	} {
		if got, err := parseDir(tc.in, tc.writable); err != nil || got != tc.want {
			t.Errorf("parseDir(%q, %v) = %+v, %v; want %+v", tc.in, tc.writable, got, err, tc.want)
		}
	}
	for _, in := range []string{"", ":", "::", "a::", "::b", "a:", ":b", "a:b:c", "a:b:c:rw", ":rw"} {
		if d, err := parseDir(in, false); err == nil {
			t.Errorf("parseDir(%q) = %+v; want an error", in, d)
		}
	}
	// --dir-rw has no older form to keep: a single colon is refused.
	for _, in := range []string{"a:rw", "a:/b", "a:b:rw"} {
		if d, err := parseDir(in, true); err == nil {
			t.Errorf("parseDir(%q, writable) = %+v; want an error", in, d)
		}
	}
}
