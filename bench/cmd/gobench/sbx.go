//go:build sbx

package main

// The sbx side: the cgo package in ../go, through its public API only.

import (
	"context"
	"time"

	"github.com/sbx-run/sbx/go/wasm"
)

func init() { runtimes = append(runtimes, sbxRuntime{}) }

type sbxRuntime struct{}

func (sbxRuntime) name() string { return "sbx" }

func (sbxRuntime) newHost(cfg hostConfig) (host, error) {
	if cfg.hostInc {
		return nil, errNA("sbx has no host functions yet")
	}
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
func (h sbxHost) instantiator(ctx context.Context, wasmBytes []byte) (func(name string) (func(), error), error) {
	first, err := h.h.LoadModule(ctx, "warm", wasmBytes)
	if err != nil {
		return nil, err
	}
	first.Close(ctx)
	return func(name string) (func(), error) {
		m, err := h.h.LoadModule(ctx, name, wasmBytes)
		if err != nil {
			return nil, err
		}
		return func() { m.Close(ctx) }, nil
	}, nil
}

type sbxModule struct{ m *wasm.Module }

func (m sbxModule) call(ctx context.Context, fnName string, params ...uint64) ([]uint64, error) {
	return m.m.CallWithTimeout(ctx, fnName, params...)
}

func (m sbxModule) close(ctx context.Context) { m.m.Close(ctx) }

func (m sbxModule) memory() (memoryAccess, bool) { return nil, false }

var _ = time.Second
