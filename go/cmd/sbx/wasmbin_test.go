package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sbx-run/sbx/go/wasm"
)

// Helpers that assemble wasm binaries byte by byte.

func uleb(v uint64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			out = append(out, b|0x80)
			continue
		}
		return append(out, b)
	}
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func vec(items ...[]byte) []byte { return cat(uleb(uint64(len(items))), cat(items...)) }

func wname(s string) []byte { return cat(uleb(uint64(len(s))), []byte(s)) }

func section(id byte, body ...[]byte) []byte {
	b := cat(body...)
	return cat([]byte{id}, uleb(uint64(len(b))), b)
}

func module(sections ...[]byte) []byte {
	return cat([]byte("\x00asm\x01\x00\x00\x00"), cat(sections...))
}

// everything exercises every kind of import and definition inspect shows.
func everything() []byte {
	i32, i64, f32, f64 := []byte{0x7f}, []byte{0x7e}, []byte{0x7d}, []byte{0x7c}
	functype := func(params, results []byte) []byte {
		p, r := [][]byte{}, [][]byte{}
		for _, t := range params {
			p = append(p, []byte{t})
		}
		for _, t := range results {
			r = append(r, []byte{t})
		}
		return cat([]byte{0x60}, vec(p...), vec(r...))
	}
	return module(
		section(1, vec(
			functype([]byte{0x7f, 0x7f}, []byte{0x7f}),             // 0: (i32, i32) -> i32
			functype(nil, nil),                                     // 1: ()
			functype([]byte{0x7e, 0x7d, 0x7c}, []byte{0x7e, 0x7f}), // 2
			cat([]byte{0x5f}, vec(cat([]byte{0x78, 0x01}))),        // 3: struct { mut i8 }
		)),
		section(2, vec(
			cat(wname("wasi_snapshot_preview1"), wname("proc_exit"), []byte{0x00}, uleb(1)),
			cat(wname("env"), wname("memory"), []byte{0x02, 0x03}, uleb(1), uleb(16)), // shared 1..16
			cat(wname("env"), wname("table"), []byte{0x01, 0x6f, 0x00}, uleb(2)),      // externref 2..
			cat(wname("env"), wname("g"), []byte{0x03}, f64, []byte{0x01}),            // mut f64
			cat(wname("env"), wname("e"), []byte{0x04, 0x00}, uleb(1)),                // tag
		)),
		section(3, vec(uleb(0), uleb(2), uleb(1))),
		section(4, vec(cat([]byte{0x70, 0x01}, uleb(1), uleb(1)))),
		section(5, vec(
			cat([]byte{0x05}, uleb(3), uleb(1<<33)), // memory64 3..2^33 pages
			cat([]byte{0x08}, uleb(0), uleb(0)),     // custom page size 1
		)),
		section(6, vec(
			cat(i32, []byte{0x00, 0x41}, uleb(42), []byte{0x0b}),
			cat(i64, []byte{0x01, 0x42, 0x7f, 0x0b}),
			cat(f32, []byte{0x00, 0x43, 0, 0, 0x80, 0x3f, 0x0b}),
		)),
		section(7, vec(
			cat(wname("add"), []byte{0x00}, uleb(1)),
			cat(wname("mix"), []byte{0x00}, uleb(2)),
			cat(wname("_initialize"), []byte{0x00}, uleb(3)),
			cat(wname("mem"), []byte{0x02}, uleb(1)),
			cat(wname("tab"), []byte{0x01}, uleb(1)),
			cat(wname("glob"), []byte{0x03}, uleb(1)),
		)),
		section(0, wname("name"), []byte{1, 2, 3}),
		section(8, uleb(3)),
		section(10, []byte{0xff, 0xff}), // the code section is skipped unread
	)
}

func TestParseWasmEverything(t *testing.T) {
	m, err := parseWasm(everything())
	if err != nil {
		t.Fatal(err)
	}
	want := `module everything.wasm: 1 bytes
kind: WASI reactor (exports _initialize, which runs at load)
start function: func 3 (runs at load)
imports (5)
  func wasi_snapshot_preview1.proc_exit()
  memory env.memory: min 1 page (64 KiB), max 16 pages (1 MiB), shared
  table env.table: externref, min 2, no max
  global env.g: mut f64
  tag env.e()
exports (6)
  func add(i32, i32) -> i32
  func mix(i64, f32, f64) -> (i64, i32)
  func _initialize()
  memory mem (memory 1): min 3 pages (192 KiB), max 8589934592 pages (512 TiB), memory64
  table tab (table 1): funcref, min 1, max 1
  global glob (global 1): i32
memories (3)
  memory 0: min 1 page (64 KiB), max 16 pages (1 MiB), shared (imported)
  memory 1: min 3 pages (192 KiB), max 8589934592 pages (512 TiB), memory64
  memory 2: min 0 pages (0 bytes), no max, page size 1
tables (2)
  table 0: externref, min 2, no max (imported)
  table 1: funcref, min 1, max 1
globals (4)
  global 0: mut f64 (imported)
  global 1: i32
  global 2: mut i64
  global 3: f32
`
	if got := m.describe("everything.wasm", 1); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestInspectGolden compares inspect's whole output for fixtures with the
// files in testdata/inspect; SBX_BLESS=1 rewrites them.
func TestInspectGolden(t *testing.T) {
	for _, path := range []string{fixture("add"), fixture("all_types"), wasiFixture("hello"), wasiFixture("plugin")} {
		code, stdout, stderr := sbx("inspect", path)
		if code != 0 || stderr != "" {
			t.Fatalf("inspect %s: exit %d, stderr %q", path, code, stderr)
		}
		golden := filepath.Join("testdata", "inspect", strings.TrimSuffix(filepath.Base(path), ".wasm")+".txt")
		if os.Getenv("SBX_BLESS") == "1" {
			if err := os.WriteFile(golden, []byte(stdout), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if stdout != string(want) {
			t.Errorf("inspect %s:\n%s\nwant (%s):\n%s", path, stdout, golden, want)
		}
	}
}

func TestParseWasmRefusesMalformed(t *testing.T) {
	functype := cat([]byte{0x60}, vec(), vec())
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, `not a WebAssembly binary (no \0asm magic)`},
		{"text", []byte("(module)"), `not a WebAssembly binary (no \0asm magic)`},
		{"no version", []byte("\x00asm\x01"), "at byte 4: unexpected end"},
		{"component", []byte("\x00asm\x0d\x00\x01\x00"), "a WebAssembly component, not a core module"},
		{"version 2", []byte("\x00asm\x02\x00\x00\x00"), "unsupported WebAssembly version 02 00 00 00"},
		{"section past the end", module([]byte{1, 10, 0}), "at byte 10: unexpected end (10 bytes needed, 1 left)"},
		{"unknown section", module(section(14)), "at byte 10: unknown section id 14"},
		{"two type sections", module(section(1, vec()), section(1, vec())), "at byte 13: a second section with id 1"},
		{"huge count", module(section(1, uleb(1<<32-1))), "at byte 15: a count of 4294967295 items exceeds the 0 bytes left"},
		{"overlong leb", module(section(1, []byte{0x80, 0x80, 0x80, 0x80, 0x10})), "at byte 10: integer too large for u32"},
		{"bad value type", module(section(1, vec(cat([]byte{0x60}, vec([]byte{0x01}), vec())))), "at byte 13: unknown value type 0x01"},
		{"bad type form", module(section(1, vec([]byte{0x61}))), "at byte 11: unknown type form 0x61"},
		{"short section", module(section(1, vec(functype), []byte{0})), "at byte 14: section 1 ends 1 bytes before its declared size"},
		{"bad name", module(section(2, vec(cat(wname("\xff"), wname("f"), []byte{0}, uleb(0))))), "at byte 13: name is not UTF-8"},
		{"bad import kind", module(section(2, vec(cat(wname("m"), wname("f"), []byte{9})))), "at byte 15: unknown import kind 0x09"},
		{"max below min", module(section(5, vec(cat([]byte{1}, uleb(2), uleb(1))))), "at byte 14: maximum 1 is below minimum 2"},
		{"shared without max", module(section(5, vec(cat([]byte{2}, uleb(1))))), "at byte 13: a shared memory needs a maximum"},
		{"bad limits flags", module(section(5, vec([]byte{0x10, 0}))), "at byte 11: unknown limits flags 0x10"},
		{"table of i32", module(section(4, vec([]byte{0x7f, 0, 0}))), "at byte 12: table of i32: tables hold references"},
		{"non-constant global", module(section(6, vec([]byte{0x7f, 0, 0x20, 0, 0x0b}))), "at byte 13: instruction 0x20 is not supported in a constant expression"},
		{"unended global", module(section(6, vec([]byte{0x7f, 0, 0x41, 0}))), "at byte 15: unexpected end"},
		{"bad mutability", module(section(6, vec([]byte{0x7f, 2, 0x0b}))), "at byte 12: mutability 0x02 is neither 0 nor 1"},
		{"type out of range", module(section(3, vec(uleb(0)))), "function 0 has type 0; the module has 0 types"},
		{"func of struct type", module(section(1, vec([]byte{0x5f, 0})), section(3, vec(uleb(0)))), "function 0 has type 0, a struct type"},
		{"export out of range", module(section(7, vec(cat(wname("m"), []byte{2}, uleb(0))))), `export "m" is memory 0; the module has 0`},
		{"duplicate export", module(section(1, vec(functype)), section(3, vec(uleb(0))),
			section(7, vec(cat(wname("f"), []byte{0}, uleb(0)), cat(wname("f"), []byte{0}, uleb(0))))), `export "f" appears twice`},
		{"bad export kind", module(section(7, vec(cat(wname("m"), []byte{5}, uleb(0))))), "at byte 13: unknown export kind 0x05"},
		{"start out of range", module(section(8, uleb(0))), "start function 0; the module has 0 functions"},
	} {
		m, err := parseWasm(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %+v, %v; want error %q", tc.name, m, err, tc.want)
		}
	}
}

// FuzzParseWasm checks that no input makes the parser panic, and that what
// it accepts it can describe.
func FuzzParseWasm(f *testing.F) {
	f.Add(everything())
	for _, path := range []string{fixture("add"), fixture("all_types"), wasiFixture("hello")} {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if m, err := parseWasm(in); err == nil {
			_ = m.describe("fuzz.wasm", len(in))
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	})
}

// TestParseWasmAgreesWithTheLibrary compares the exported function
// signatures the parser reads with those go/wasm reports after a load, for
// every fixture of the repository.
func TestParseWasmAgreesWithTheLibrary(t *testing.T) {
	var paths []string
	for _, pattern := range []string{"*.wasm", "wasi/*.wasm", "programs/*.wasm"} {
		matches, err := filepath.Glob(filepath.Join("..", "..", "..", "testdata", pattern))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, matches...)
	}
	// These cannot load in a bare host (an import it lacks, a start
	// function that never returns, more memory than the default limit).
	unloadable := map[string]bool{"unresolved_import.wasm": true, "plugin.wasm": true, "start_loop.wasm": true,
		"big_memory.wasm": true, "start_import.wasm": true}
	host, err := wasm.NewHost(wasm.WithWASI(wasm.WASIConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	compared := 0
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := parseWasm(b)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		var parsed []string
		for _, e := range m.exports {
			if e.kind == externFunc {
				parsed = append(parsed, e.name+m.types[m.funcs[e.index]].String())
			}
		}
		if len(b) > 100_000 {
			continue // programs/large.wasm: parsed, but compiling it takes seconds
		}
		timeout := 10 * time.Second
		if unloadable[filepath.Base(path)] {
			timeout = 100 * time.Millisecond // start_loop's load never ends
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		mod, err := host.LoadModule(ctx, filepath.Base(path), b)
		cancel()
		if unloadable[filepath.Base(path)] {
			if err == nil {
				t.Errorf("%s loaded", path)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		var loaded []string
		for _, f := range mod.ExportedFunctions() {
			loaded = append(loaded, f.String())
		}
		sort.Strings(parsed)
		sort.Strings(loaded)
		if !reflect.DeepEqual(parsed, loaded) {
			t.Errorf("%s: parsed %q; go/wasm reports %q", path, parsed, loaded)
		}
		compared++
	}
	if compared < 25 {
		t.Errorf("compared %d modules of %d", compared, len(paths))
	}
}
