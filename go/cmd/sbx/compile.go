package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sbx-run/sbx/go/wasm"
)

// compileLoadTimeout bounds the load compile uses to fill the cache; see
// compileModule.
const compileLoadTimeout = time.Second

// compileCommand fills a compilation cache directory ahead of time, as
// `wasmtime compile` does, so that `sbx run --cache-dir DIR` skips
// compiling. Metered code differs from unmetered code, so the cache entry
// only serves runs that use --fuel the same way (any N: only on or off
// matters).
func compileCommand(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("sbx compile", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cacheDir := fs.String("cache-dir", "", "the cache directory to fill (required)")
	fuel := fs.Uint64("fuel", 0, "compile for runs with --fuel (any non-zero N)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *cacheDir == "" {
		return usageError(stderr, "compile needs --cache-dir DIR")
	}
	if fs.NArg() == 0 {
		return usageError(stderr, "compile needs a module")
	}
	host, err := wasm.NewHost(wasm.WithCompilationCache(*cacheDir), wasm.WithFuelLimit(*fuel))
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	defer host.Close()
	for _, path := range fs.Args() {
		if err := compileModule(host, *cacheDir, path); err != nil {
			return fail(stderr, exitFailure, err)
		}
	}
	return exitOK
}

// compileModule puts path's compiled code into dir. The go/wasm package
// has no compile-only call: it compiles as part of a load, and writes the
// cache before it links and instantiates. So this loads the module without
// WASI and without host functions: a module that imports anything then
// fails to link and runs nothing, and one that imports nothing can only
// compute (its start function or _initialize, if any, runs with no way to
// do I/O, for at most compileLoadTimeout). Any failure after compiling is
// not compile's concern; whether the cache now holds the code is checked
// on disk.
func compileModule(host *wasm.Host, dir, path string) error {
	wasmBytes, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), compileLoadTimeout)
	defer cancel()
	mod, err := host.LoadModule(ctx, filepath.Base(path), wasmBytes)
	switch {
	case err == nil:
		mod.Close(ctx)
	case errors.Is(err, wasm.ErrCompile), errors.Is(err, wasm.ErrIO), errors.Is(err, wasm.ErrInternal):
		return fmt.Errorf("%s: %v", path, err)
	}
	cached, err := cacheHolds(dir, len(wasmBytes))
	if err != nil {
		return err
	}
	if !cached {
		return fmt.Errorf("%s: compiled, but nothing was written to %s (is it writable?)", path, dir)
	}
	return nil
}

// cacheHolds says whether dir holds compiled code for a module of size
// bytes. It relies on the library's file names (hash-LENGTH-engine.cwasm,
// the length in hex); the compile test fails if they change.
func cacheHolds(dir string, size int) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	infix := fmt.Sprintf("-%x-", size)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".cwasm") && strings.Contains(e.Name(), infix) {
			return true, nil
		}
	}
	return false, nil
}
