//! A module that is small but slow to compile: one exported function `run`
//! made of `depth` nested empty `loop`s (3 bytes each). Cranelift's compile
//! time grows about quadratically with the depth (issue 8).

/// The module's bytes, built directly: `wat` would take longer to parse it.
pub fn nested_loops(depth: usize) -> Vec<u8> {
    let mut body = vec![0x00]; // no locals
    body.extend(std::iter::repeat_n([0x03, 0x40], depth).flatten()); // loop (empty type)
    body.extend(std::iter::repeat_n(0x0b, depth + 1)); // the loops' ends, then the function's
    let mut code = vec![0x01]; // one body
    leb(&mut code, body.len());
    code.extend(body);

    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    section(&mut wasm, 1, &[0x01, 0x60, 0x00, 0x00]); // type 0: [] -> []
    section(&mut wasm, 3, &[0x01, 0x00]); // function 0 has type 0
    section(&mut wasm, 7, &[0x01, 0x03, b'r', b'u', b'n', 0x00, 0x00]); // export "run"
    section(&mut wasm, 10, &code);
    wasm
}

fn section(wasm: &mut Vec<u8>, id: u8, content: &[u8]) {
    wasm.push(id);
    leb(wasm, content.len());
    wasm.extend_from_slice(content);
}

fn leb(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}
