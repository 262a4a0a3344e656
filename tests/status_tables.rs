//! Statuses, trap codes and value types are defined once: by the Rust enums
//! `Status`, `TrapCode` and `ValueType` (src/error.rs, src/call.rs), from
//! which cbindgen generates the header. Every other list of them is held to
//! that definition here, by name and by value, none missing and none extra:
//! the header, the README's status table, the Go package's constants,
//! sentinel mapping and names, and the C test's status list.

use sbx::{Status, TrapCode, ValueType};
use std::collections::BTreeMap;
use std::path::Path;

type Table = BTreeMap<String, u64>;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// "StackOverflow" -> "STACK_OVERFLOW", as cbindgen renames variants.
fn screaming(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Every status, by its C name. `sbx_status_name` looks names up in a
/// table of the values 0..=255 (src/capi/error.rs): none may lie beyond.
fn statuses() -> Table {
    for v in (256..=65_536).chain([u32::MAX]) {
        assert_eq!(Status::from_u32(v), None, "status {v} is past 255");
    }
    (0..=255)
        .filter_map(Status::from_u32)
        .map(|s| {
            assert_eq!(
                s.name(),
                format!("SBX_STATUS_{}", screaming(&format!("{s:?}")))
            );
            (s.name().to_owned(), s as u64)
        })
        .collect()
}

fn trap_codes() -> Table {
    (0..=u8::MAX)
        .filter_map(TrapCode::from_u8)
        .map(|t| {
            (
                format!("SBX_TRAP_CODE_{}", screaming(&format!("{t:?}"))),
                t as u64,
            )
        })
        .collect()
}

/// Every value type: the match fails to compile when one is added.
fn value_types() -> Vec<ValueType> {
    use ValueType::*;
    let all = [I32, I64, F32, F64, V128, FuncRef, ExternRef, OtherRef];
    for t in all {
        match t {
            I32 | I64 | F32 | F64 | V128 | FuncRef | ExternRef | OtherRef => {}
        }
    }
    all.to_vec()
}

fn value_type_table() -> Table {
    value_types()
        .into_iter()
        .map(|t| {
            (
                format!("SBX_VALUE_TYPE_{}", screaming(&format!("{t:?}"))),
                t as u64,
            )
        })
        .collect()
}

fn without_ok(mut table: Table) -> Table {
    table.remove("SBX_STATUS_OK");
    table
}

/// The names of `table`, for lists that carry no values.
fn names(table: &Table) -> Vec<String> {
    table.keys().cloned().collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    let len = v.len();
    v.dedup();
    assert_eq!(v.len(), len, "a name is listed twice: {v:?}");
    v
}

/// `NAME = 12,` lines of the generated header whose name starts with `prefix`.
fn header_enum(prefix: &str) -> Table {
    read("include/sbx.h")
        .lines()
        .filter_map(|line| {
            let (name, value) = line.trim().strip_suffix(',')?.split_once(" = ")?;
            name.starts_with(prefix)
                .then(|| (name.to_owned(), value.parse().expect(line)))
        })
        .collect()
}

/// The identifiers following each occurrence of `marker` in `text`.
fn idents_after(text: &str, marker: &str) -> Vec<String> {
    text.match_indices(marker)
        .map(|(at, _)| {
            text[at + marker.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// The text of `text` from `start` up to the next `end`.
fn section<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start:?}"));
    let rest = &text[from..];
    &rest[..rest
        .find(end)
        .unwrap_or_else(|| panic!("no {end:?} after {start:?}"))]
}

#[test]
fn the_header_matches_the_enums() {
    assert_eq!(header_enum("SBX_STATUS_"), statuses());
    assert_eq!(header_enum("SBX_TRAP_CODE_"), trap_codes());
    assert_eq!(header_enum("SBX_VALUE_TYPE_"), value_type_table());
}

#[test]
fn the_readme_status_table_matches() {
    // Rows such as "| `SBX_STATUS_TIMEOUT` (30) | the deadline passed |".
    let readme = read("README.md");
    let rows: Table = readme
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("| `SBX_STATUS_")?;
            let (name, rest) = rest.split_once("` (")?;
            let (value, _) = rest.split_once(") |")?;
            Some((format!("SBX_STATUS_{name}"), value.parse().expect(line)))
        })
        .collect();
    assert_eq!(rows, statuses());
}

#[test]
fn the_go_package_matches() {
    let ffi = read("go/wasm/ffi.go");
    let errors = read("go/wasm/errors.go");
    let types = read("go/wasm/types.go");
    let header_test = read("go/wasm/header_test.go");

    // ffi.go: `statusTimeout status = C.SBX_STATUS_TIMEOUT`, one per
    // failing status; Go's own names for them, for the checks below.
    let consts = section(&ffi, "const (", ")");
    let go_status: BTreeMap<String, String> = consts
        .lines()
        .filter_map(|line| {
            let (go, c) = line.trim().split_once(" status = C.")?;
            Some((go.trim().to_owned(), c.to_owned()))
        })
        .collect();
    assert_eq!(
        sorted(go_status.values().cloned().collect()),
        names(&without_ok(statuses())),
        "go/wasm/ffi.go status constants"
    );

    // errors.go: kindOf maps every one of them to a sentinel.
    let kind_of = section(&errors, "func kindOf(", "\n}\n");
    let mapped = kind_of
        .lines()
        .filter_map(|line| line.trim().strip_prefix("case ")?.strip_suffix(':'))
        .flat_map(|cases| cases.split(", "))
        .map(|go| {
            go_status
                .get(go)
                .unwrap_or_else(|| panic!("kindOf: {go} is not a status constant"))
                .clone()
        })
        .collect();
    assert_eq!(sorted(mapped), names(&without_ok(statuses())), "kindOf");

    // header_test.go's expected sentinels name every failing status.
    let want = section(&header_test, "func TestHeaderStatuses(", "statuses := ");
    let listed = idents_after(want, "\t\t\"")
        .into_iter()
        .map(|n| format!("SBX_STATUS_{n}"))
        .collect();
    assert_eq!(
        sorted(listed),
        names(&without_ok(statuses())),
        "TestHeaderStatuses"
    );

    // errors.go and types.go: one Go constant per trap code and value type.
    let trap_consts = idents_after(&errors, "TrapCode = C.");
    assert_eq!(
        sorted(trap_consts),
        names(&trap_codes()),
        "Go TrapCode constants"
    );
    let type_consts = idents_after(&types, "ValueType = C.");
    assert_eq!(
        sorted(type_consts),
        names(&value_type_table()),
        "Go ValueType constants"
    );

    // ValueType.String gives the names ValueType::name gives.
    let go_types: BTreeMap<String, String> = types
        .lines()
        .filter_map(|line| {
            let (go, c) = line.trim().split_once(" ValueType = C.")?;
            Some((go.split_whitespace().next()?.to_owned(), c.to_owned()))
        })
        .collect();
    let string = section(&types, "func (t ValueType) String() string {", "\n}\n");
    let mut named = BTreeMap::new();
    let mut case = None;
    for line in string.lines().map(str::trim) {
        if let Some(go) = line.strip_prefix("case ").and_then(|l| l.strip_suffix(':')) {
            case = Some(go_types[go].clone());
        } else if line == "default:" {
            case = Some("default".to_owned());
        } else if let Some(name) = line.strip_prefix("return \"") {
            named.insert(
                case.take().expect(line),
                name.trim_end_matches('"').to_owned(),
            );
        }
    }
    for t in value_types() {
        let c = format!("SBX_VALUE_TYPE_{}", screaming(&format!("{t:?}")));
        let go = named.get(&c).or_else(|| named.get("default"));
        assert_eq!(
            go.map(String::as_str),
            Some(t.name()),
            "ValueType.String for {c}"
        );
    }
}

#[test]
fn the_c_status_list_matches() {
    let test = read("tests/c/test_config.c");
    let body = section(&test, "static void test_status_names(void) {", "\n}\n");
    let named = idents_after(body, "NAMED(")
        .into_iter()
        .filter(|n| n.starts_with("SBX_"))
        .collect::<Vec<_>>();
    let mut want = names(&statuses());
    want.extend(names(&trap_codes()));
    assert_eq!(
        sorted(named),
        sorted(want),
        "test_status_names in tests/c/test_config.c"
    );
}
