package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sbx-run/sbx/go/wasm"
)

func wasiFixture(name string) string {
	return filepath.Join("..", "..", "..", "testdata", "wasi", name+".wasm")
}

func TestRunWASICommands(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "input.txt"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"run", wasiFixture("hello")}, 0, "hello from wasi\n", "warning: to stderr\n"},
		{[]string{"run", wasiFixture("hello"), "_start"}, 0, "hello from wasi\n", "warning: to stderr\n"},
		{[]string{"run", wasiFixture("exit3")}, 3, "exiting with 3\n", ""},
		{[]string{"run", wasiFixture("env_args"), "_start", "one", "two words"}, 0,
			"arg[0]=env_args.wasm\narg[1]=one\narg[2]=two words\n", ""},
		{[]string{"run", wasiFixture("env_args"), "--", "-v"}, 0, "arg[0]=env_args.wasm\narg[1]=-v\n", ""},
		{[]string{"run", "--env", "A=1", "--env", "B=x=y", wasiFixture("env_args")}, 0,
			"arg[0]=env_args.wasm\nenv A=1\nenv B=x=y\n", ""},
		{[]string{"run", "--dir", dir + ":/data", wasiFixture("cat")}, 0, "from the host\n", ""},
		{[]string{"run", "--dir", dir, wasiFixture("cat"), "_start", dir + "/input.txt"}, 0, "from the host\n", ""},
		{[]string{"run", wasiFixture("cat")}, 1, "", "cat: /data/input.txt: Capabilities insufficient\n"},
		{[]string{"run", "--dir", dir + ":/data", wasiFixture("write_ro")}, 0, "DENIED /data/out.txt (Operation not permitted)\n", ""},
		{[]string{"run", "--dir", dir + ":/data:rw", wasiFixture("write_ro")}, 1, "WROTE /data/out.txt\n", ""},
		{[]string{"run", wasiFixture("echo_stdin")}, 0, "\n0 bytes\n", ""},
	} {
		code, stdout, stderr := sbx(tc.args...)
		if code != tc.code || stdout != tc.stdout || stderr != tc.stderr {
			t.Errorf("sbx %s: exit %d, stdout %q, stderr %q; want %d, %q, %q",
				strings.Join(tc.args, " "), code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.txt")); err != nil {
		t.Errorf("the rw run wrote nothing: %v", err)
	}
}

func TestRunWASIFailures(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--timeout", "50ms", wasiFixture("spin")}, "deadline"},
		{[]string{"run", "--dir", "a:b:c:ro", wasiFixture("hello")}, "HOST[:GUEST]"},
		{[]string{"run", "--dir", ":x", wasiFixture("hello")}, "HOST[:GUEST]"},
		{[]string{"run", "--env", "NOVALUE", wasiFixture("hello")}, "not K=V"},
		{[]string{"run", "--dir", "/no/such/dir", wasiFixture("hello")}, "/no/such/dir"},
		{[]string{"run", fixture("add"), "_start"}, "not a WASI command"},
	} {
		code, stdout, stderr := sbx(tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) || stdout != "" || strings.Count(stderr, "\n") != 1 {
			t.Errorf("sbx %s: exit %d, stdout %q, stderr %q; want failure mentioning %q",
				strings.Join(tc.args, " "), code, stdout, stderr, tc.want)
		}
	}
}

func TestParseDir(t *testing.T) {
	for in, want := range map[string]wasm.Dir{
		"data":             {HostPath: "data", GuestPath: "data"},
		"data:/d":          {HostPath: "data", GuestPath: "/d"},
		"data:ro":          {HostPath: "data", GuestPath: "data"},
		"data:rw":          {HostPath: "data", GuestPath: "data", Writable: true},
		"/tmp/x:/data:rw":  {HostPath: "/tmp/x", GuestPath: "/data", Writable: true},
		"/tmp/x:/data:ro":  {HostPath: "/tmp/x", GuestPath: "/data"},
		"/tmp/x:/data/rw":  {HostPath: "/tmp/x", GuestPath: "/data/rw"},
		"/tmp/ro:/data:rw": {HostPath: "/tmp/ro", GuestPath: "/data", Writable: true},
	} {
		if got, err := parseDir(in); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseDir(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", ":", "a:", ":b", "a:b:c", "a:b:c:rw", ":rw"} {
		if d, err := parseDir(in); err == nil {
			t.Errorf("parseDir(%q) = %+v; want an error", in, d)
		}
	}
}
