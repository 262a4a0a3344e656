package main

// The wazero side: a copy of the D035 host (internal/plugin/wasm in the Go
// application sbx replaces), configured exactly as D035 describes: the
// default runtime config (the compiler on amd64/arm64), with or without
// WithCloseOnContextDone(true), and CallWithTimeout wrapping each call in
// context.WithTimeout.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

type wazeroRuntime struct {
	closeOnDone bool
}

func (w wazeroRuntime) name() string {
	if w.closeOnDone {
		return "wazero-close"
	}
	return "wazero"
}

func (w wazeroRuntime) newHost(cfg hostConfig) (host, error) {
	ctx := context.Background()
	rc := wazero.NewRuntimeConfig().WithCloseOnContextDone(w.closeOnDone)
	var cache wazero.CompilationCache
	if cfg.cacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.cacheDir)
		if err != nil {
			return nil, err
		}
		cache = c
		rc = rc.WithCompilationCache(c)
	}
	if cfg.pooling {
		return nil, errNA("wazero has no pooling allocator")
	}
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	if cfg.hostInc {
		_, err := r.NewHostModuleBuilder("env").
			NewFunctionBuilder().
			WithFunc(func(_ context.Context, x int32) int32 { return x + 1 }).
			Export("inc").
			Instantiate(ctx)
		if err != nil {
			return nil, err
		}
	}
	return &wazeroHost{runtime: r, cache: cache, execTimeout: cfg.execTimeout}, nil
}

type wazeroHost struct {
	runtime     wazero.Runtime
	cache       wazero.CompilationCache
	execTimeout time.Duration
}

// LoadModule as D035 has it: compile, then instantiate under the name.
func (h *wazeroHost) load(ctx context.Context, name string, wasmBytes []byte) (module, error) {
	if strings.TrimSpace(name) == "" {
		return nil, errors.New("wasm: module name must not be empty")
	}
	compiled, err := h.runtime.CompileModule(ctx, wasmBytes)
	if err != nil {
		return nil, fmt.Errorf("compile module %q: %w", name, err)
	}
	inst, err := h.runtime.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName(name))
	if err != nil {
		compiled.Close(ctx)
		return nil, fmt.Errorf("instantiate module %q: %w", name, err)
	}
	return &wazeroModule{compiled: compiled, instance: inst, execTimeout: h.execTimeout}, nil
}

func (h *wazeroHost) close() {
	h.runtime.Close(context.Background())
	if h.cache != nil {
		h.cache.Close(context.Background())
	}
}

// instantiator: a fresh instance from an already-compiled module, the
// cheapest path wazero offers (D035's LoadModule would also re-decode).
func (h *wazeroHost) instantiator(ctx context.Context, wasmBytes []byte) (func(name string) (closer, error), error) {
	compiled, err := h.runtime.CompileModule(ctx, wasmBytes)
	if err != nil {
		return nil, err
	}
	return func(name string) (closer, error) {
		inst, err := h.runtime.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName(name))
		if err != nil {
			return nil, err
		}
		return inst, nil
	}, nil
}

// compiledInstantiator: wazero's only instantiation path is already
// compile-once.
func (h *wazeroHost) compiledInstantiator(ctx context.Context, wasmBytes []byte) (func(name string) (closer, error), error) {
	return h.instantiator(ctx, wasmBytes)
}

// server: wazero's recommended pattern for a fresh instance per request,
// CompileModule once, then InstantiateModule, call and Close per request
// (anonymous instances, so any number may live at once). wazero has no
// pool of reused instances.
func (h *wazeroHost) server(ctx context.Context, wasmBytes []byte, fnName string, size int, fresh bool) (func(ctx context.Context, params ...uint64) ([]uint64, error), func(), error) {
	if !fresh {
		return nil, nil, errNA("wazero has no instance pool")
	}
	compiled, err := h.runtime.CompileModule(ctx, wasmBytes)
	if err != nil {
		return nil, nil, err
	}
	config := wazero.NewModuleConfig().WithName("")
	serve := func(ctx context.Context, params ...uint64) ([]uint64, error) {
		inst, err := h.runtime.InstantiateModule(ctx, compiled, config)
		if err != nil {
			return nil, err
		}
		defer inst.Close(ctx)
		fn := inst.ExportedFunction(fnName)
		if fn == nil {
			return nil, fmt.Errorf("function %q not exported", fnName)
		}
		return fn.Call(ctx, params...)
	}
	return serve, func() { compiled.Close(ctx) }, nil
}

type wazeroModule struct {
	compiled    wazero.CompiledModule
	instance    api.Module
	execTimeout time.Duration
}

// CallWithTimeout as D035 has it.
func (m *wazeroModule) call(ctx context.Context, fnName string, params ...uint64) ([]uint64, error) {
	if m.execTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.execTimeout)
		defer cancel()
	}
	fn := m.instance.ExportedFunction(fnName)
	if fn == nil {
		return nil, fmt.Errorf("function %q not exported", fnName)
	}
	return fn.Call(ctx, params...)
}

// Close releases the module instance, as D035 has it. The compiled module
// stays in the runtime's in-memory cache (closing it would evict it), so a
// later load of the same bytes skips compilation.
func (m *wazeroModule) close(ctx context.Context) {
	m.instance.Close(ctx)
}

func (m *wazeroModule) memory() (memoryAccess, bool) {
	mem := m.instance.Memory()
	if mem == nil {
		return nil, false
	}
	return wazeroMemory{mem}, true
}

type wazeroMemory struct{ m api.Memory }

func (w wazeroMemory) write(off uint32, data []byte) bool { return w.m.Write(off, data) }

func (w wazeroMemory) read(off uint32, into []byte) bool {
	view, ok := w.m.Read(off, uint32(len(into)))
	if !ok {
		return false
	}
	copy(into, view) // a host that keeps the bytes must copy them out
	return true
}
