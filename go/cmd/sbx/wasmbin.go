package main

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// This file reads the parts of a wasm binary that `sbx inspect` shows: the
// type, import, function, table, memory, global, export and start sections.
// The go/wasm package reports only exported function signatures after a
// load; imports and memory limits need the binary itself. Code, data and
// element sections are skipped by their sizes, and nothing is validated
// beyond what these sections need to be read: malformed input is refused
// with an error, never a panic, and counts are checked against the bytes
// left before anything is allocated.

// Import and export kinds.
const (
	externFunc   = 0
	externTable  = 1
	externMemory = 2
	externGlobal = 3
	externTag    = 4
)

// wasmModule is what inspect shows of a module.
type wasmModule struct {
	types    []funcType
	imports  []wasmImport
	funcs    []uint32 // type index of every function, imported ones first
	tables   []tableType
	memories []memoryType
	globals  []globalType
	tags     []uint32 // type index of every tag, imported ones first
	exports  []wasmExport
	start    *uint32

	importedFuncs, importedTables, importedMemories, importedGlobals int
}

// funcType is a type section entry; form is "func", "struct" or "array"
// (GC types, shown by name only).
type funcType struct {
	form            string
	params, results []string
}

type tableType struct {
	elem     string
	min, max uint64
	hasMax   bool
	table64  bool
}

type memoryType struct {
	min, max    uint64 // in pages
	hasMax      bool
	shared      bool
	memory64    bool
	pageSizeLog uint32 // 16 unless the custom-page-sizes proposal says otherwise
}

type globalType struct {
	typ     string
	mutable bool
}

type wasmImport struct {
	module, name string
	kind         byte
	index        uint32 // in the kind's index space
}

type wasmExport struct {
	name  string
	kind  byte
	index uint32
}

// errTruncated is the error for input that ends inside an item.
var errTruncated = errors.New("unexpected end")

// reader reads a wasm binary; off is the position, for error messages.
type reader struct {
	buf []byte
	off int
}

func (r *reader) fail(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", r.off, fmt.Sprintf(format, args...))
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.buf) {
		return 0, r.fail("%v", errTruncated)
	}
	b := r.buf[r.off]
	r.off++
	return b, nil
}

func (r *reader) bytes(n uint64) ([]byte, error) {
	if n > uint64(len(r.buf)-r.off) {
		return nil, r.fail("%v (%d bytes needed, %d left)", errTruncated, n, len(r.buf)-r.off)
	}
	b := r.buf[r.off : r.off+int(n)]
	r.off += int(n)
	return b, nil
}

// uleb reads an unsigned LEB128 of at most bits bits.
func (r *reader) uleb(bits uint) (uint64, error) {
	start := r.off
	var v uint64
	for shift := uint(0); ; shift += 7 {
		b, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift+7 > bits && b>>(bits-shift) != 0 {
			r.off = start
			return 0, r.fail("integer too large for u%d", bits)
		}
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v, nil
		}
	}
}

// sleb skips a signed LEB128 of at most bits bits (constant expressions).
func (r *reader) sleb(bits uint) error {
	for n := uint(0); ; n++ {
		if n*7 >= bits {
			return r.fail("integer too long for s%d", bits)
		}
		b, err := r.byte()
		if err != nil {
			return err
		}
		if b&0x80 == 0 {
			return nil
		}
	}
}

func (r *reader) u32() (uint32, error) {
	v, err := r.uleb(32)
	return uint32(v), err
}

// count reads a vector's length, refusing one longer than the bytes left
// (every item takes at least one byte), so that no allocation is huge.
func (r *reader) count() (int, error) {
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	if int64(n) > int64(len(r.buf)-r.off) {
		return 0, r.fail("a count of %d items exceeds the %d bytes left", n, len(r.buf)-r.off)
	}
	return int(n), nil
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(uint64(n))
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", r.fail("name is not UTF-8")
	}
	return string(b), nil
}

// Heap types' and value types' one-byte codes.
var typeCodes = map[byte]string{
	0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128",
	0x70: "funcref", 0x6f: "externref", 0x69: "exnref", 0x6e: "anyref", 0x6d: "eqref",
	0x6c: "i31ref", 0x6b: "structref", 0x6a: "arrayref", 0x73: "nullfuncref",
	0x72: "nullexternref", 0x71: "nullref", 0x74: "nullexnref",
}

var heapTypes = map[byte]string{
	0x70: "func", 0x6f: "extern", 0x69: "exn", 0x6e: "any", 0x6d: "eq", 0x6c: "i31",
	0x6b: "struct", 0x6a: "array", 0x73: "nofunc", 0x72: "noextern", 0x71: "none", 0x74: "noexn",
}

func (r *reader) valType() (string, error) {
	b, err := r.byte()
	if err != nil {
		return "", err
	}
	if t, ok := typeCodes[b]; ok {
		return t, nil
	}
	if b == 0x63 || b == 0x64 { // (ref null ht) and (ref ht)
		ht, err := r.heapType()
		if err != nil {
			return "", err
		}
		if b == 0x63 {
			return "(ref null " + ht + ")", nil
		}
		return "(ref " + ht + ")", nil
	}
	r.off--
	return "", r.fail("unknown value type 0x%02x", b)
}

func (r *reader) heapType() (string, error) {
	if r.off < len(r.buf) {
		if ht, ok := heapTypes[r.buf[r.off]]; ok {
			r.off++
			return ht, nil
		}
	}
	// Otherwise a type index, as a non-negative s33.
	start := r.off
	if r.off < len(r.buf) && r.buf[r.off]&0xc0 == 0x40 {
		return "", r.fail("unknown heap type 0x%02x", r.buf[r.off])
	}
	v, err := r.uleb(33)
	if err != nil {
		return "", err
	}
	if v > math.MaxUint32 {
		r.off = start
		return "", r.fail("heap type index too large")
	}
	return fmt.Sprint(v), nil
}

// parseWasm reads a core module's sections.
func parseWasm(buf []byte) (*wasmModule, error) {
	r := &reader{buf: buf}
	magic, err := r.bytes(4)
	if err != nil || string(magic) != "\x00asm" {
		return nil, errors.New("not a WebAssembly binary (no \\0asm magic)")
	}
	version, err := r.bytes(4)
	if err != nil {
		return nil, r.fail("%v", errTruncated)
	}
	switch string(version) {
	case "\x01\x00\x00\x00":
	case "\x0d\x00\x01\x00":
		return nil, errors.New("a WebAssembly component, not a core module")
	default:
		return nil, fmt.Errorf("unsupported WebAssembly version % x", version)
	}

	m := &wasmModule{}
	seen := map[byte]bool{}
	for r.off < len(r.buf) {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		body, err := r.bytes(uint64(size))
		if err != nil {
			return nil, err
		}
		if id != 0 {
			if id > 13 {
				return nil, fmt.Errorf("at byte %d: unknown section id %d", r.off-len(body), id)
			}
			if seen[id] {
				return nil, fmt.Errorf("at byte %d: a second section with id %d", r.off-len(body), id)
			}
			seen[id] = true
		}
		s := &reader{buf: r.buf[:r.off], off: r.off - len(body)}
		if err := m.section(id, s); err != nil {
			return nil, err
		}
		if s.off != r.off && sectionsRead[id] {
			return nil, s.fail("section %d ends %d bytes before its declared size", id, r.off-s.off)
		}
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// sectionsRead are the sections parsed to their end.
var sectionsRead = map[byte]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 13: true}

func (m *wasmModule) section(id byte, r *reader) error {
	switch id {
	case 1:
		return m.typeSection(r)
	case 2:
		return m.importSection(r)
	case 3:
		return eachItem(r, func() error {
			t, err := r.u32()
			m.funcs = append(m.funcs, t)
			return err
		})
	case 4:
		return eachItem(r, func() error {
			t, err := r.tableDef()
			m.tables = append(m.tables, t)
			return err
		})
	case 5:
		return eachItem(r, func() error {
			t, err := r.memoryType()
			m.memories = append(m.memories, t)
			return err
		})
	case 6:
		return eachItem(r, func() error {
			g, err := r.globalType()
			if err == nil {
				err = r.constExpr()
			}
			m.globals = append(m.globals, g)
			return err
		})
	case 7:
		return eachItem(r, func() error {
			var e wasmExport
			var err error
			if e.name, err = r.name(); err != nil {
				return err
			}
			if e.kind, err = r.byte(); err != nil {
				return err
			}
			if e.kind > externTag {
				r.off--
				return r.fail("unknown export kind 0x%02x", e.kind)
			}
			e.index, err = r.u32()
			m.exports = append(m.exports, e)
			return err
		})
	case 8:
		f, err := r.u32()
		m.start = &f
		return err
	case 13:
		return eachItem(r, func() error {
			t, err := r.tagType()
			m.tags = append(m.tags, t)
			return err
		})
	}
	return nil // custom, code, data, element, data count: not shown
}

// eachItem reads a vector, calling item once per element.
func eachItem(r *reader, item func() error) error {
	n, err := r.count()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if err := item(); err != nil {
			return err
		}
	}
	return nil
}

func (m *wasmModule) typeSection(r *reader) error {
	return eachItem(r, func() error {
		b, err := r.byte()
		if err != nil {
			return err
		}
		if b == 0x4e { // a recursion group (GC): its types in order
			return eachItem(r, func() error { return m.subType(r) })
		}
		r.off--
		return m.subType(r)
	})
}

func (m *wasmModule) subType(r *reader) error {
	b, err := r.byte()
	if err != nil {
		return err
	}
	if b == 0x50 || b == 0x4f { // sub / sub final: supertypes, then the type
		if err := eachItem(r, func() error { _, err := r.u32(); return err }); err != nil {
			return err
		}
		if b, err = r.byte(); err != nil {
			return err
		}
	}
	switch b {
	case 0x60:
		ft := funcType{form: "func"}
		if err := eachItem(r, func() error {
			t, err := r.valType()
			ft.params = append(ft.params, t)
			return err
		}); err != nil {
			return err
		}
		if err := eachItem(r, func() error {
			t, err := r.valType()
			ft.results = append(ft.results, t)
			return err
		}); err != nil {
			return err
		}
		m.types = append(m.types, ft)
		return nil
	case 0x5f:
		if err := eachItem(r, r.fieldType); err != nil {
			return err
		}
		m.types = append(m.types, funcType{form: "struct"})
		return nil
	case 0x5e:
		if err := r.fieldType(); err != nil {
			return err
		}
		m.types = append(m.types, funcType{form: "array"})
		return nil
	default:
		r.off--
		return r.fail("unknown type form 0x%02x", b)
	}
}

// fieldType reads a struct or array field: a storage type and mutability.
func (r *reader) fieldType() error {
	if r.off < len(r.buf) && (r.buf[r.off] == 0x78 || r.buf[r.off] == 0x77) { // i8, i16
		r.off++
	} else if _, err := r.valType(); err != nil {
		return err
	}
	_, err := r.mutability()
	return err
}

func (r *reader) mutability() (bool, error) {
	b, err := r.byte()
	if err != nil {
		return false, err
	}
	if b > 1 {
		r.off--
		return false, r.fail("mutability 0x%02x is neither 0 nor 1", b)
	}
	return b == 1, nil
}

func (m *wasmModule) importSection(r *reader) error {
	return eachItem(r, func() error {
		var im wasmImport
		var err error
		if im.module, err = r.name(); err != nil {
			return err
		}
		if im.name, err = r.name(); err != nil {
			return err
		}
		if im.kind, err = r.byte(); err != nil {
			return err
		}
		switch im.kind {
		case externFunc:
			t, err := r.u32()
			if err != nil {
				return err
			}
			im.index = uint32(len(m.funcs))
			m.funcs = append(m.funcs, t)
			m.importedFuncs++
		case externTable:
			t, err := r.tableType()
			if err != nil {
				return err
			}
			im.index = uint32(len(m.tables))
			m.tables = append(m.tables, t)
			m.importedTables++
		case externMemory:
			t, err := r.memoryType()
			if err != nil {
				return err
			}
			im.index = uint32(len(m.memories))
			m.memories = append(m.memories, t)
			m.importedMemories++
		case externGlobal:
			g, err := r.globalType()
			if err != nil {
				return err
			}
			im.index = uint32(len(m.globals))
			m.globals = append(m.globals, g)
			m.importedGlobals++
		case externTag:
			t, err := r.tagType()
			if err != nil {
				return err
			}
			im.index = uint32(len(m.tags))
			m.tags = append(m.tags, t)
		default:
			r.off--
			return r.fail("unknown import kind 0x%02x", im.kind)
		}
		m.imports = append(m.imports, im)
		return nil
	})
}

func (r *reader) tagType() (uint32, error) {
	attr, err := r.byte()
	if err != nil {
		return 0, err
	}
	if attr != 0 {
		r.off--
		return 0, r.fail("unknown tag attribute 0x%02x", attr)
	}
	return r.u32()
}

// limits reads a limits flag byte and its bounds; allowed are the flag bits
// the caller accepts. The bounds are 64-bit when flag bit 2 is set.
func (r *reader) limits(allowed byte) (flags byte, min, max uint64, err error) {
	if flags, err = r.byte(); err != nil {
		return
	}
	if flags&^allowed != 0 {
		r.off--
		return 0, 0, 0, r.fail("unknown limits flags 0x%02x", flags)
	}
	bits := uint(32)
	if flags&0x04 != 0 {
		bits = 64
	}
	if min, err = r.uleb(bits); err != nil {
		return
	}
	if flags&0x01 != 0 {
		if max, err = r.uleb(bits); err != nil {
			return
		}
		if max < min {
			return 0, 0, 0, r.fail("maximum %d is below minimum %d", max, min)
		}
	}
	return flags, min, max, nil
}

func (r *reader) tableType() (tableType, error) {
	elem, err := r.valType()
	if err != nil {
		return tableType{}, err
	}
	if !strings.HasSuffix(elem, "ref") && !strings.HasPrefix(elem, "(ref") {
		return tableType{}, r.fail("table of %s: tables hold references", elem)
	}
	flags, min, max, err := r.limits(0x01 | 0x04)
	return tableType{elem: elem, min: min, max: max, hasMax: flags&1 != 0, table64: flags&4 != 0}, err
}

// tableDef reads a table section entry: a table type, or (function
// references) 0x40 0x00, a table type and an initialiser.
func (r *reader) tableDef() (tableType, error) {
	if r.off < len(r.buf) && r.buf[r.off] == 0x40 {
		r.off++
		if b, err := r.byte(); err != nil || b != 0 {
			if err == nil {
				r.off--
				err = r.fail("unknown table encoding 0x40 0x%02x", b)
			}
			return tableType{}, err
		}
		t, err := r.tableType()
		if err == nil {
			err = r.constExpr()
		}
		return t, err
	}
	return r.tableType()
}

func (r *reader) memoryType() (memoryType, error) {
	flags, min, max, err := r.limits(0x01 | 0x02 | 0x04 | 0x08)
	if err != nil {
		return memoryType{}, err
	}
	mt := memoryType{min: min, max: max, hasMax: flags&1 != 0, shared: flags&2 != 0,
		memory64: flags&4 != 0, pageSizeLog: 16}
	if mt.shared && !mt.hasMax {
		return mt, r.fail("a shared memory needs a maximum")
	}
	if flags&0x08 != 0 {
		if mt.pageSizeLog, err = r.u32(); err != nil {
			return mt, err
		}
		if mt.pageSizeLog != 0 && mt.pageSizeLog != 16 {
			return mt, r.fail("page size 2^%d: only 1 and 65536 exist", mt.pageSizeLog)
		}
	}
	return mt, nil
}

func (r *reader) globalType() (globalType, error) {
	t, err := r.valType()
	if err != nil {
		return globalType{}, err
	}
	mutable, err := r.mutability()
	return globalType{typ: t, mutable: mutable}, err
}

// constExpr skips a constant expression up to and including its end
// (0x0b): the instructions of the core spec and of extended constants.
func (r *reader) constExpr() error {
	for {
		op, err := r.byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0b: // end
			return nil
		case 0x41: // i32.const
			err = r.sleb(35)
		case 0x42: // i64.const
			err = r.sleb(70)
		case 0x43: // f32.const
			_, err = r.bytes(4)
		case 0x44: // f64.const
			_, err = r.bytes(8)
		case 0x23, 0xd2: // global.get, ref.func
			_, err = r.u32()
		case 0xd0: // ref.null
			_, err = r.heapType()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // i32/i64 add, sub, mul
		case 0xfd: // v128.const
			var sub uint32
			if sub, err = r.u32(); err == nil {
				if sub != 12 {
					return r.fail("instruction 0xfd %d is not constant", sub)
				}
				_, err = r.bytes(16)
			}
		default:
			r.off--
			return r.fail("instruction 0x%02x is not supported in a constant expression", op)
		}
		if err != nil {
			return err
		}
	}
}

// check refuses indices that point outside their index spaces.
func (m *wasmModule) check() error {
	for _, space := range []struct {
		what    string
		indices []uint32
	}{{"function", m.funcs}, {"tag", m.tags}} {
		what := space.what
		for i, t := range space.indices {
			if int64(t) >= int64(len(m.types)) {
				return fmt.Errorf("%s %d has type %d; the module has %d types", what, i, t, len(m.types))
			}
			if m.types[t].form != "func" {
				return fmt.Errorf("%s %d has type %d, a %s type", what, i, t, m.types[t].form)
			}
		}
	}
	spaces := [...]int{len(m.funcs), len(m.tables), len(m.memories), len(m.globals), len(m.tags)}
	names := [...]string{"function", "table", "memory", "global", "tag"}
	seen := map[string]bool{}
	for _, e := range m.exports {
		if int64(e.index) >= int64(spaces[e.kind]) {
			return fmt.Errorf("export %q is %s %d; the module has %d", e.name, names[e.kind], e.index, spaces[e.kind])
		}
		if seen[e.name] {
			return fmt.Errorf("export %q appears twice", e.name)
		}
		seen[e.name] = true
	}
	if m.start != nil && int64(*m.start) >= int64(len(m.funcs)) {
		return fmt.Errorf("start function %d; the module has %d functions", *m.start, len(m.funcs))
	}
	return nil
}
