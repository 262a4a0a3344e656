(module (func (export "run") unreachable))
