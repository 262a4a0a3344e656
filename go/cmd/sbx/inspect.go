package main

import (
	"flag"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
)

// inspectCommand prints what a module imports and exports, its memories,
// tables and globals, and whether it is a WASI command or reactor, read
// from its binary without compiling or running it.
func inspectCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sbx inspect", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return usageError(stderr, "inspect needs one module, got %d arguments", fs.NArg())
	}
	path := fs.Arg(0)
	wasmBytes, err := os.ReadFile(path)
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	m, err := parseWasm(wasmBytes)
	if err != nil {
		return fail(stderr, exitFailure, fmt.Errorf("%s: %v", path, err))
	}
	fmt.Fprint(stdout, m.describe(filepath.Base(path), len(wasmBytes)))
	return exitOK
}

// describe is inspect's output for m.
func (m *wasmModule) describe(name string, size int) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	line("module %s: %d bytes", name, size)
	line("kind: %s", m.kind())
	if m.start != nil {
		line("start function: func %d (runs at load)", *m.start)
	}

	line("imports (%d)", len(m.imports))
	for _, im := range m.imports {
		line("  %s", m.describeExtern(im.kind, im.module+"."+im.name, im.index, false))
	}
	line("exports (%d)", len(m.exports))
	for _, e := range m.exports {
		line("  %s", m.describeExtern(e.kind, e.name, e.index, true))
	}
	if len(m.memories) > 0 {
		line("memories (%d)", len(m.memories))
		for i, mt := range m.memories {
			line("  memory %d: %s%s", i, mt, imported(i, m.importedMemories))
		}
	}
	if len(m.tables) > 0 {
		line("tables (%d)", len(m.tables))
		for i, t := range m.tables {
			line("  table %d: %s%s", i, t, imported(i, m.importedTables))
		}
	}
	if len(m.globals) > 0 {
		line("globals (%d)", len(m.globals))
		for i, g := range m.globals {
			line("  global %d: %s%s", i, g, imported(i, m.importedGlobals))
		}
	}
	return b.String()
}

func imported(index, importedCount int) string {
	if index < importedCount {
		return " (imported)"
	}
	return ""
}

// kind says how sbx run treats the module.
func (m *wasmModule) kind() string {
	switch {
	case m.exportsFunc("_start"):
		return "WASI command (exports _start): sbx run passes it ARGS as its argv"
	case m.exportsFunc("_initialize"):
		return "WASI reactor (exports _initialize, which runs at load)"
	default:
		return "neither a WASI command nor a reactor (no _start or _initialize): call its functions with sbx run --invoke"
	}
}

func (m *wasmModule) exportsFunc(name string) bool {
	for _, e := range m.exports {
		if e.kind == externFunc && e.name == name {
			return true
		}
	}
	return false
}

// describeExtern is one import or export: its kind, name and type; an
// export other than a function also names the index it exports.
func (m *wasmModule) describeExtern(kind byte, name string, index uint32, export bool) string {
	at := func(what string) string {
		if export {
			return fmt.Sprintf(" (%s %d)", what, index)
		}
		return ""
	}
	switch kind {
	case externFunc:
		return "func " + name + m.types[m.funcs[index]].String()
	case externTable:
		return fmt.Sprintf("table %s%s: %s", name, at("table"), m.tables[index])
	case externMemory:
		return fmt.Sprintf("memory %s%s: %s", name, at("memory"), m.memories[index])
	case externGlobal:
		return fmt.Sprintf("global %s%s: %s", name, at("global"), m.globals[index])
	default:
		return "tag " + name + m.types[m.tags[index]].String()
	}
}

// String is a function type as go/wasm prints signatures: "(i32, i32) -> i32".
func (t funcType) String() string {
	s := "(" + strings.Join(t.params, ", ") + ")"
	switch len(t.results) {
	case 0:
		return s
	case 1:
		return s + " -> " + t.results[0]
	default:
		return s + " -> (" + strings.Join(t.results, ", ") + ")"
	}
}

func (t tableType) String() string {
	s := fmt.Sprintf("%s, min %d, %s", t.elem, t.min, maxString(t.hasMax, t.max, ""))
	if t.table64 {
		s += ", table64"
	}
	return s
}

func (mt memoryType) String() string {
	pages := func(n uint64) string {
		unit := "pages"
		if n == 1 {
			unit = "page"
		}
		return fmt.Sprintf("%d %s%s", n, unit, byteSize(n, mt.pageSizeLog))
	}
	s := "min " + pages(mt.min) + ", " + maxString(mt.hasMax, mt.max, pages(mt.max))
	if mt.pageSizeLog != 16 {
		s += fmt.Sprintf(", page size %d", uint64(1)<<mt.pageSizeLog)
	}
	if mt.memory64 {
		s += ", memory64"
	}
	if mt.shared {
		s += ", shared"
	}
	return s
}

func maxString(hasMax bool, max uint64, formatted string) string {
	switch {
	case !hasMax:
		return "no max"
	case formatted != "":
		return "max " + formatted
	default:
		return fmt.Sprintf("max %d", max)
	}
}

// byteSize is " (64 KiB)" for n pages of 2^pageSizeLog bytes, in the
// largest binary unit that divides it; empty when it overflows 64 bits.
func byteSize(n uint64, pageSizeLog uint32) string {
	hi, total := bits.Mul64(n, uint64(1)<<pageSizeLog)
	if hi != 0 {
		return ""
	}
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for i < len(units)-1 && total >= 1024 && total%1024 == 0 {
		total /= 1024
		i++
	}
	if total == 1 && i == 0 {
		return " (1 byte)"
	}
	return fmt.Sprintf(" (%d %s)", total, units[i])
}

func (g globalType) String() string {
	if g.mutable {
		return "mut " + g.typ
	}
	return g.typ
}
