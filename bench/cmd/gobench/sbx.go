//go:build sbx

package main

// The sbx side: the cgo package in ../go, through its public API only.

import (
	"context"

	"github.com/sbx-run/sbx/go/wasm"
)

func init() { runtimes = append(runtimes, sbxRuntime{}) }

type sbxRuntime struct{}

func (sbxRuntime) name() string { return "sbx" }

func (sbxRuntime) newHost(cfg hostConfig) (host, error) {
	opts := []wasm.Option{}
	if cfg.execTimeout > 0 {
		opts = append(opts, wasm.WithExecTimeout(cfg.execTimeout))
	}
	if cfg.pooling {
		opts = append(opts, wasm.WithPooling(true), wasm.WithMaxModules(cfg.maxModules))
	} else if cfg.maxModules > 0 {
		opts = append(opts, wasm.WithMaxModules(cfg.maxModules))
	}
	if cfg.cacheDir != "" {
		opts = append(opts, wasm.WithCompilationCache(cfg.cacheDir))
	}
	h, err := wasm.NewHost(opts...)
	if err != nil {
		return nil, err
	}
	if cfg.hostInc {
		// env.inc(i32) -> i32, the same function as the wazero side's
		// WithFunc(func(_ context.Context, x int32) int32 { return x + 1 }).
		i32 := []wasm.ValueType{wasm.ValueTypeI32}
		err := h.DefineFunction("env", "inc", i32, i32, func(_ context.Context, _ *wasm.Caller, stack []uint64) error {
			stack[0] = wasm.EncodeI32(wasm.DecodeI32(stack[0]) + 1)
			return nil
		})
		if err != nil {
			h.Close()
			return nil, err
		}
	}
	return sbxHost{h}, nil
}

type sbxHost struct{ h *wasm.Host }

func (h sbxHost) load(ctx context.Context, name string, wasmBytes []byte) (module, error) {
	m, err := h.h.LoadModule(ctx, name, wasmBytes)
	if err != nil {
		return nil, err
	}
	return sbxModule{m}, nil
}

func (h sbxHost) close() { h.h.Close() }

// instantiator: sbx has no separate instantiate; LoadModule of bytes it has
// compiled before hits its in-memory cache (a SHA-256 of the bytes) and
// instantiates.
func (h sbxHost) instantiator(ctx context.Context, wasmBytes []byte) (func(name string) (closer, error), error) {
	first, err := h.h.LoadModule(ctx, "warm", wasmBytes)
	if err != nil {
		return nil, err
	}
	first.Close(ctx)
	return func(name string) (closer, error) {
		m, err := h.h.LoadModule(ctx, name, wasmBytes)
		if err != nil {
			return nil, err
		}
		return m, nil
	}, nil
}

type sbxModule struct{ m *wasm.Module }

func (m sbxModule) call(ctx context.Context, fnName string, params ...uint64) ([]uint64, error) {
	return m.m.CallWithTimeout(ctx, fnName, params...)
}

func (m sbxModule) close(ctx context.Context) { m.m.Close(ctx) }

func (m sbxModule) memory() (memoryAccess, bool) {
	mem := m.m.Memory()
	if mem == nil {
		return nil, false
	}
	return sbxMemory{mem}, true
}

// sbxMemory: each access is one bounds-checked copy by the library, so a
// read lands straight in the caller's buffer (the wazero side reads a view
// and copies it out: the same bytes moved once each way).
type sbxMemory struct{ m *wasm.Memory }

func (s sbxMemory) write(off uint32, data []byte) bool { return s.m.Write(off, data) }

func (s sbxMemory) read(off uint32, into []byte) bool { return s.m.ReadInto(off, into) }

func (h sbxHost) compiledInstantiator(ctx context.Context, wasmBytes []byte) (func(name string) (closer, error), error) {
	cm, err := h.h.CompileModule(ctx, wasmBytes)
	if err != nil {
		return nil, err
	}
	return func(name string) (closer, error) {
		m, err := cm.Instantiate(ctx, name)
		if err != nil {
			return nil, err
		}
		return m, nil
	}, nil
}

// server: a Pool; fresh adds WithResetAfterEachCall (a failed call resets
// its instance either way).
func (h sbxHost) server(ctx context.Context, wasmBytes []byte, fnName string, size int, fresh bool) (func(ctx context.Context, params ...uint64) ([]uint64, error), func(), error) {
	cm, err := h.h.CompileModule(ctx, wasmBytes)
	if err != nil {
		return nil, nil, err
	}
	var opts []wasm.LoadOption
	if fresh {
		opts = append(opts, wasm.WithResetAfterEachCall())
	}
	pool, err := cm.NewPool(size, opts...)
	cm.Close() // the pool keeps the compiled code
	if err != nil {
		return nil, nil, err
	}
	serve := func(ctx context.Context, params ...uint64) ([]uint64, error) {
		return pool.CallWithTimeout(ctx, fnName, params...)
	}
	return serve, func() { pool.Close() }, nil
}
