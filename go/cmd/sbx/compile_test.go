package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cacheFiles lists dir's compiled-code files with their inode numbers: a
// cache miss writes a new file by rename, so a hit leaves both unchanged.
func cacheFiles(t *testing.T, dir string) map[string]uint64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]uint64{}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".cwasm") {
			info, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			files[e.Name()] = info.Sys().(*syscall.Stat_t).Ino
		}
	}
	return files
}

func names(files map[string]uint64) []string {
	var out []string
	for name := range files {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func sameFiles(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for name, ino := range a {
		if b[name] != ino {
			return false
		}
	}
	return true
}

func TestCompileThenRunHitsTheCache(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache") // created by compile
	add := fixture("add")
	check(t, []string{"compile", "--cache-dir", dir, add, wasiFixture("hello")}, result{0, "", ""})
	compiled := cacheFiles(t, dir)
	if len(compiled) != 2 {
		t.Fatalf("compile wrote %v; want one file per module", names(compiled))
	}

	// Runs with the same engine configuration find the code: no new file,
	// and the files are not rewritten.
	check(t, []string{"run", "--cache-dir", dir, "--invoke", "add", add, "2", "3"}, result{0, "5\n", ""})
	check(t, []string{"run", "--cache-dir", dir, "--timeout", "5s", "--memory", "1MiB", wasiFixture("hello")},
		result{0, "hello from wasi\n", "warning: to stderr\n"})
	if now := cacheFiles(t, dir); !sameFiles(now, compiled) {
		t.Errorf("the runs changed the cache from %v to %v: a miss", names(compiled), names(now))
	}
	// Compiling again is a hit too.
	check(t, []string{"compile", "--cache-dir", dir, add}, result{0, "", ""})
	if now := cacheFiles(t, dir); !sameFiles(now, compiled) {
		t.Errorf("compiling again changed the cache from %v to %v", names(compiled), names(now))
	}

	// Metered code is another entry: a run with --fuel misses what an
	// unmetered compile wrote, and hits what compile --fuel writes.
	check(t, []string{"run", "--cache-dir", dir, "--fuel", "1000", "--invoke", "add", add, "2", "3"}, result{0, "5\n", ""})
	metered := cacheFiles(t, dir)
	if len(metered) != 3 {
		t.Fatalf("after a metered run the cache holds %v; want a third file", names(metered))
	}
	check(t, []string{"compile", "--cache-dir", dir, "--fuel", "1", wasiFixture("hello")}, result{0, "", ""})
	metered = cacheFiles(t, dir)
	if len(metered) != 4 {
		t.Fatalf("after compile --fuel the cache holds %v; want a fourth file", names(metered))
	}
	check(t, []string{"run", "--cache-dir", dir, "--fuel", "1000000", wasiFixture("hello")},
		result{0, "hello from wasi\n", "warning: to stderr\n"})
	if now := cacheFiles(t, dir); !sameFiles(now, metered) {
		t.Errorf("a metered run after compile --fuel changed the cache from %v to %v", names(metered), names(now))
	}
}

func TestCompileRunsNoProgram(t *testing.T) {
	dir := t.TempDir()
	// write_ro would create out.txt if anything ran it; compile gives it
	// no WASI, so it cannot even link.
	check(t, []string{"compile", "--cache-dir", dir, wasiFixture("write_ro")}, result{0, "", ""})
	// A start function that never returns (it imports nothing, so it can
	// only compute) is stopped; its code is cached all the same.
	start := time.Now()
	check(t, []string{"compile", "--cache-dir", dir, fixture("start_loop")}, result{0, "", ""})
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("compiling start_loop took %v", took)
	}
	if files := cacheFiles(t, dir); len(files) != 2 {
		t.Errorf("the cache holds %v; want two files", names(files))
	}
}

func TestCompileFailures(t *testing.T) {
	dir := t.TempDir()
	notWasm := filepath.Join(dir, "bad.wasm")
	if err := os.WriteFile(notWasm, []byte("\x00asm\x01\x00\x00\x00\x01"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	check(t, []string{"compile", fixture("add")}, result{2, "", "sbx: compile needs --cache-dir DIR (see sbx help)\n"})
	check(t, []string{"compile", "--cache-dir", dir}, result{2, "", "sbx: compile needs a module (see sbx help)\n"})
	check(t, []string{"compile", "--cache-dir", dir, "no/such.wasm"}, result{1, "", "sbx: open no/such.wasm: no such file or directory\n"})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"compile", "--cache-dir", dir, notWasm}, "sbx: " + notWasm + ": wasm: "},
		{[]string{"compile", "--cache-dir", filepath.Join(file, "sub"), fixture("add")}, "sbx: wasm: "},
		// /proc takes no files, even from root: the load succeeds, the cache stays empty.
		{[]string{"compile", "--cache-dir", "/proc", fixture("add")}, "sbx: " + fixture("add") + ": compiled, but nothing was written to /proc (is it writable?)"},
	} {
		code, stdout, stderr := sbx(tc.args...)
		if code != 1 || stdout != "" || !strings.HasPrefix(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("sbx %s: exit %d, stdout %q, stderr %q; want exit 1, one line starting %q",
				strings.Join(tc.args, " "), code, stdout, stderr, tc.want)
		}
	}
	if files := cacheFiles(t, dir); len(files) != 0 {
		t.Errorf("failed compiles wrote %v", names(files))
	}
}

func TestRunCacheDirFailure(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := sbx("run", "--cache-dir", filepath.Join(file, "sub"), "--invoke", "add", fixture("add"), "1", "2")
	if code != 1 || stdout != "" || !containsOneLine(stderr, "cache directory") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and one line about the cache directory", code, stdout, stderr)
	}
}
