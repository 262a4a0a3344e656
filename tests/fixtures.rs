//! Each `testdata/*.wat`, `testdata/wasi/*.wat` and `bench/testdata/*.wat`
//! is the source of the `.wasm` committed beside it (the WASI programs
//! written in C are checked by `testdata/wasi/build.sh --check`).
//! `SBX_BLESS=1 cargo test --test fixtures` rebuilds the `.wasm` files.

use std::path::Path;

#[test]
fn every_wat_matches_its_committed_wasm() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var_os("SBX_BLESS").is_some();
    let mut checked = 0;
    let mut stale = Vec::new();
    let entries = ["testdata", "testdata/wasi", "bench/testdata"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root.join(dir)).expect("read fixture dir"));
    for entry in entries {
        let wat = entry.expect("dir entry").path();
        if wat.extension().is_none_or(|e| e != "wat") {
            continue;
        }
        let built = wat::parse_file(&wat).unwrap_or_else(|e| panic!("{}: {e}", wat.display()));
        let wasm = wat.with_extension("wasm");
        if bless {
            std::fs::write(&wasm, &built).expect("write wasm");
        } else if std::fs::read(&wasm).ok().as_deref() != Some(&built[..]) {
            stale.push(wasm.display().to_string());
        }
        checked += 1;
    }
    assert!(
        checked >= 10,
        "expected the fixture set, found {checked} .wat files"
    );
    assert!(
        stale.is_empty(),
        "stale or missing .wasm (run `make fixtures`): {stale:?}"
    );
}
