// Package wasm runs untrusted WebAssembly modules on Wasmtime, through the
// sbx library's C ABI, under hard limits: a timeout on every call, optional
// fuel metering, caps on memory, tables, stack and module count.
//
// It is a drop-in replacement for the wazero-based host of decision D035:
// the same NewHost, WithExecTimeout, LoadModule, CallWithTimeout and Close,
// with values crossing as uint64 exactly as wazero's api package encodes
// them (see EncodeI32 and friends).
//
//	host, err := wasm.NewHost(wasm.WithExecTimeout(50 * time.Millisecond))
//	...
//	defer host.Close()
//	mod, err := host.LoadModule(ctx, "plugin", wasmBytes)
//	...
//	results, err := mod.CallWithTimeout(ctx, "add", wasm.EncodeI32(1), wasm.EncodeI32(2))
//
// # Deadlines and cancellation
//
// A call stops at the earlier of ctx's deadline and the host's ExecTimeout,
// with an error satisfying errors.Is(err, context.DeadlineExceeded); when
// ctx is cancelled it stops promptly with one satisfying
// errors.Is(err, context.Canceled). The guest is interrupted where it runs:
// no goroutine is left behind, and the module stays usable.
//
// Go code cannot be pre-empted, so a host function is not interrupted: the
// ctx it receives carries the call's deadline and is cancelled when the
// call must stop (the caller's ctx ends, the module or host closes), and a
// host function that may block must watch ctx.Done() and return.
//
// # Errors
//
// Every error wraps one of the sentinel errors (ErrCompile, ErrLink,
// ErrExportNotFound, ...) for errors.Is; a guest trap is a *TrapError with a
// TrapCode and the wasm backtrace. An error caused by ctx wraps ErrTimeout
// or ErrInterrupted and ctx's error, also when ctx was done before the call
// (or load) started.
//
// # WASI, memory and host functions
//
// WithWASI and WithModuleWASI give modules a WASI (preview 1) world that
// denies everything it does not list (WASIConfig); Module.Run runs a
// command, and a non-zero exit is an *ExitError. Module.Memory reads and
// writes a module's memory with bounds-checked copies. Host.DefineFunction
// lets guests call Go: the HostFunction gets the call's ctx and a *Caller
// whose Memory is the calling module's; its errors and panics abort the
// guest's call as a *HostFunctionError.
//
// # Concurrency
//
// Host and Module are safe for concurrent use. Calls on one module run one
// at a time; calls on different modules run in parallel. A call waiting for
// its module gives up when its ctx ends; it and the other waiting methods
// (FuelConsumed, Memory accesses) also give up when the module is closed.
// Close interrupts whatever is running and waits for it, and is idempotent.
//
// # Many requests
//
// Host.CompileModule compiles once; CompiledModule.Instantiate then makes
// modules without compiling again, and CompiledModule.NewPool serves
// concurrent calls from up to size instances. Module.Reset, and the
// WithResetAfterFailure and WithResetAfterEachCall policies, put a module
// back to its state right after load. WithHostMemoryLimit bounds the
// memory of all of a host's modules together; Module.Stats, Host.Stats
// and Pool.Stats count what they did.
//
// # Building
//
// The package finds sbx through pkg-config (sbx.pc, from `make install`, a
// release tarball, or build/lib/pkgconfig after `make lib` in the
// repository) and links its static library; cgo must be enabled.
package wasm
