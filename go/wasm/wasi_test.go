package wasm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// wasiFixture reads testdata/wasi/<name>.wasm (C sources beside them).
func wasiFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "wasi", name+".wasm"))
	if err != nil {
		t.Fatalf("fixture wasi/%s: %v", name, err)
	}
	return b
}

type wasiRun struct {
	stdout, stderr string
	err            error
}

// runWASI loads a WASI command with cfg (stdout and stderr captured unless
// cfg sets them) and runs its _start.
func runWASI(t *testing.T, name string, cfg WASIConfig) wasiRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if cfg.Stdout == nil {
		cfg.Stdout = &stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = &stderr
	}
	h := newHost(t)
	m, err := h.LoadModule(context.Background(), name, wasiFixture(t, name), WithModuleWASI(cfg))
	if err != nil {
		t.Fatalf("LoadModule(%s): %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = m.Run(ctx)
	return wasiRun{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// sandbox is a temporary directory with data/ (to preopen as /data) beside
// secrets outside it, and symlinks from inside data/ to them.
type sandbox struct{ root string }

func newSandbox(t *testing.T) sandbox {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"data", "outside"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"data/input.txt":     "plugin input\n",
		"secret.txt":         "top secret\n",
		"outside/secret.txt": "top secret\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "outside"), filepath.Join(root, "data", "link_out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "secret.txt"), filepath.Join(root, "data", "link_file")); err != nil {
		t.Fatal(err)
	}
	return sandbox{root}
}

func (s sandbox) config(writable bool) WASIConfig {
	return WASIConfig{Dirs: []Dir{{HostPath: filepath.Join(s.root, "data"), GuestPath: "/data", Writable: writable}}}
}

func TestWASIHelloStdoutAndStderr(t *testing.T) {
	r := runWASI(t, "hello", WASIConfig{})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.stdout != "hello from wasi\n" || r.stderr != "warning: to stderr\n" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

func TestWASIOutputDiscardedByDefault(t *testing.T) {
	h := newHost(t)
	m, err := h.LoadModule(context.Background(), "hello", wasiFixture(t, "hello"), WithModuleWASI(WASIConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := m.CallWithTimeout(context.Background(), "_start")
	if err != nil || res != nil {
		t.Fatalf("_start again: %v, %v; want no results, no error", res, err)
	}
}

func TestWASIExitCode(t *testing.T) {
	r := runWASI(t, "exit3", WASIConfig{})
	var exit *ExitError
	if !errors.As(r.err, &exit) || exit.Code != 3 {
		t.Fatalf("err = %v; want an *ExitError with code 3", r.err)
	}
	if !errors.Is(r.err, ErrExit) || !strings.Contains(r.err.Error(), "exited with code 3") {
		t.Errorf("err = %v; want ErrExit and the code in the message", r.err)
	}
	if r.stdout != "exiting with 3\n" {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestWASIDenyByDefault(t *testing.T) {
	r := runWASI(t, "env_args", WASIConfig{})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if strings.Contains(r.stdout, "env ") || strings.Contains(r.stdout, "arg[1]") {
		t.Errorf("env or args leaked by default:\n%s", r.stdout)
	}

	newSandbox(t) // files exist on the host, but nothing is preopened
	r = runWASI(t, "cat", WASIConfig{})
	var exit *ExitError
	if !errors.As(r.err, &exit) || exit.Code != 1 {
		t.Fatalf("cat without dirs: %v; want exit code 1", r.err)
	}
	if r.stdout != "" || !strings.Contains(r.stderr, "cat: /data/input.txt") {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

func TestWASIArgsAndEnv(t *testing.T) {
	r := runWASI(t, "env_args", WASIConfig{
		Args: []string{"env_args", "one", "two words"},
		Env:  []string{"PLUGIN_MODE=test", "EMPTY=", "EQ=a=b"},
	})
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, want := range []string{"arg[0]=env_args\n", "arg[1]=one\n", "arg[2]=two words\n",
		"env PLUGIN_MODE=test\n", "env EMPTY=\n", "env EQ=a=b\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestWASIPreopenRead(t *testing.T) {
	s := newSandbox(t)
	r := runWASI(t, "cat", s.config(false))
	if r.err != nil || r.stdout != "plugin input\n" {
		t.Fatalf("cat: %v, stdout %q, stderr %q", r.err, r.stdout, r.stderr)
	}

	// GuestPath defaults to HostPath.
	dir := filepath.Join(s.root, "data")
	r = runWASI(t, "cat", WASIConfig{Dirs: []Dir{{HostPath: dir}}, Args: []string{"cat", dir + "/input.txt"}})
	if r.err != nil || r.stdout != "plugin input\n" {
		t.Fatalf("cat with default guest path: %v, stdout %q, stderr %q", r.err, r.stdout, r.stderr)
	}
}

func TestWASIEscapeAttemptsDenied(t *testing.T) {
	s := newSandbox(t)
	r := runWASI(t, "escape", s.config(false))
	if strings.Contains(r.stdout, "OPENED") {
		t.Errorf("a path escaped the preopen:\n%s", r.stdout)
	}
	for _, path := range []string{"/data/../secret.txt", "../secret.txt", "/etc/passwd", "/data/link_out/secret.txt",
		"/data/link_file"} {
		if !strings.Contains(r.stdout, "DENIED "+path+" ") {
			t.Errorf("%s was not denied:\n%s", path, r.stdout)
		}
	}
	if r.err != nil {
		t.Errorf("escape exits with the number of opened paths: %v", r.err)
	}

	// A legitimate path does open: the probes work.
	r = runWASI(t, "escape", WASIConfig{Dirs: s.config(false).Dirs, Args: []string{"escape", "/data/input.txt"}})
	var exit *ExitError
	if !errors.As(r.err, &exit) || exit.Code != 1 || !strings.Contains(r.stdout, "OPENED /data/input.txt") {
		t.Errorf("opening /data/input.txt: %v\n%s", r.err, r.stdout)
	}
}

func TestWASIReadOnlyAndWritableDirs(t *testing.T) {
	s := newSandbox(t)
	out := filepath.Join(s.root, "data", "out.txt")
	r := runWASI(t, "write_ro", s.config(false))
	if r.err != nil || !strings.HasPrefix(r.stdout, "DENIED /data/out.txt") {
		t.Errorf("write to a read-only dir: %v, stdout %q", r.err, r.stdout)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file appeared on the host: %v", err)
	}

	r = runWASI(t, "write_ro", s.config(true))
	var exit *ExitError
	if !errors.As(r.err, &exit) || exit.Code != 1 || !strings.HasPrefix(r.stdout, "WROTE /data/out.txt") {
		t.Errorf("write to a writable dir: %v, stdout %q", r.err, r.stdout)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "written by write_ro\n" {
		t.Errorf("host file: %q, %v", b, err)
	}
}

func TestWASIStdin(t *testing.T) {
	r := runWASI(t, "echo_stdin", WASIConfig{Stdin: strings.NewReader("abc")})
	if r.err != nil || r.stdout != "abc\n3 bytes\n" {
		t.Errorf("stdin abc: %v, stdout %q", r.err, r.stdout)
	}
	r = runWASI(t, "echo_stdin", WASIConfig{})
	if r.err != nil || r.stdout != "\n0 bytes\n" {
		t.Errorf("no stdin: %v, stdout %q", r.err, r.stdout)
	}
	big := strings.Repeat("x", 100_000)
	r = runWASI(t, "echo_stdin", WASIConfig{Stdin: strings.NewReader(big)})
	if r.err != nil || r.stdout != big+"\n100000 bytes\n" {
		t.Errorf("100000 bytes of stdin: %v, stdout of %d bytes", r.err, len(r.stdout))
	}
}

func TestWASIOutputLimit(t *testing.T) {
	r := runWASI(t, "hello", WASIConfig{OutputLimit: 5})
	if r.err != nil || r.stdout != "hello" || r.stderr != "warni" {
		t.Errorf("%v, stdout %q, stderr %q", r.err, r.stdout, r.stderr)
	}
}

type failingWriter struct{ panics bool }

func (w failingWriter) Write(p []byte) (int, error) {
	if w.panics {
		panic("writer panics")
	}
	return 0, errors.New("disk full")
}

func TestWASIWriterFailuresDropOutput(t *testing.T) {
	r := runWASI(t, "hello", WASIConfig{Stdout: failingWriter{}, Stderr: failingWriter{panics: true}})
	if r.err != nil {
		t.Fatalf("a failing writer failed the guest: %v", r.err)
	}
}

func TestWASIImportWithoutWASIIsLinkError(t *testing.T) {
	h := newHost(t)
	_, err := h.LoadModule(context.Background(), "hello", wasiFixture(t, "hello"))
	if !errors.Is(err, ErrLink) || !strings.Contains(err.Error(), "wasi_snapshot_preview1") {
		t.Fatalf("err = %v; want ErrLink naming wasi_snapshot_preview1", err)
	}
}

func TestWASIHostWide(t *testing.T) {
	var stdout syncBuffer
	h := newHost(t, WithWASI(WASIConfig{Stdout: &stdout, Args: []string{"prog", "host-wide"}}))
	for _, name := range []string{"hello", "env_args"} {
		m, err := h.LoadModule(context.Background(), name, wasiFixture(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := stdout.String(); got != "hello from wasi\narg[0]=prog\narg[1]=host-wide\n" {
		t.Errorf("stdout %q", got)
	}

	// WithModuleWASI replaces the host's world.
	var own bytes.Buffer
	m, err := h.LoadModule(context.Background(), "env_args", wasiFixture(t, "env_args"),
		WithModuleWASI(WASIConfig{Stdout: &own}))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if own.String() != "" || strings.Count(stdout.String(), "arg[0]") != 1 {
		t.Errorf("module stdout %q, host stdout %q", own.String(), stdout.String())
	}
}

func TestWASISpinStopsAtDeadline(t *testing.T) {
	h := newHost(t, WithWASI(WASIConfig{}))
	m := loadWASI(t, h, "spin")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := m.Run(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopped after %v", d)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if err := m.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want Canceled", err)
	}
}

func loadWASI(t testing.TB, h *Host, name string, opts ...LoadOption) *Module {
	t.Helper()
	m, err := h.LoadModule(context.Background(), name, wasiFixture(t, name), opts...)
	if err != nil {
		t.Fatalf("LoadModule(%s): %v", name, err)
	}
	return m
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("stdin broke") }

func TestWASIConfigValidation(t *testing.T) {
	// The messages are the library's (sbx_wasi_config_validate, or the
	// status of a setter that refused bad UTF-8), except for what Go cannot
	// pass on: an Env entry without '=' and a negative OutputLimit.
	for _, c := range []struct {
		cfg  WASIConfig
		want string
	}{
		{WASIConfig{Env: []string{"NOEQUALS"}}, `entry "NOEQUALS" of Env: want KEY=value`},
		{WASIConfig{Env: []string{"=value"}}, `wasi config: env key "" must be non-empty and contain no '='`},
		{WASIConfig{Dirs: []Dir{{GuestPath: "/data"}}}, `wasi config: preopen "" as "/data": paths must not be empty`},
		{WASIConfig{OutputLimit: -1}, "OutputLimit -1: must not be negative"},
		{WASIConfig{Args: []string{"\xff"}}, `Args "\xff": refused by the library (SBX_STATUS_INVALID_ARGUMENT)`},
	} {
		_, err := NewHost(WithWASI(c.cfg))
		if !errors.Is(err, ErrInvalidOption) || err.Error() != "wasm: NewHost: WithWASI: "+c.want {
			t.Errorf("WithWASI(%+v): %v; want ErrInvalidOption and %q", c.cfg, err, c.want)
		}
		h := newHost(t)
		_, err = h.LoadModule(context.Background(), "hello", wasiFixture(t, "hello"), WithModuleWASI(c.cfg))
		if !errors.Is(err, ErrInvalidOption) || !strings.HasSuffix(err.Error(), ": WithModuleWASI: "+c.want) {
			t.Errorf("WithModuleWASI(%+v): %v; want ErrInvalidOption and %q", c.cfg, err, c.want)
		}
	}
	h := newHost(t)
	_, err := h.LoadModule(context.Background(), "hello", wasiFixture(t, "hello"), WithModuleWASI(WASIConfig{Stdin: errReader{}}))
	if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), "stdin broke") {
		t.Errorf("failing Stdin: %v", err)
	}
	_, err = h.LoadModule(context.Background(), "hello", wasiFixture(t, "hello"),
		WithModuleWASI(WASIConfig{Dirs: []Dir{{HostPath: filepath.Join(t.TempDir(), "missing"), GuestPath: "/x"}}}))
	if !errors.Is(err, ErrIO) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing preopen dir: %v; want ErrIO", err)
	}
	t.Logf("missing preopen dir: %v", err)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
