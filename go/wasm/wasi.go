package wasm

// #include "sbx_go.h"
import "C"

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// WASIConfig is the world a WASI (preview 1) module sees. The zero value
// denies everything but clocks and random numbers: no files, no
// environment, no arguments, empty stdin, and output discarded. Give it to
// every module of a host with WithWASI, or to one module with
// WithModuleWASI. Without either, a module importing wasi_snapshot_preview1
// fails to load with ErrLink.
type WASIConfig struct {
	// Dirs are the host directories the guest may use. Nothing else of the
	// host's file system is reachable: not through "..", absolute paths or
	// symlinks.
	Dirs []Dir
	// Env is the environment, as "KEY=value" strings (as in os/exec).
	Env []string
	// Args is the guest's argv, Args[0] included (its program name).
	Args []string
	// Stdin is read to its end when the config is applied (by NewHost for
	// WithWASI, by LoadModule for WithModuleWASI); each module then reads
	// its own copy of those bytes. nil means an empty stdin.
	Stdin io.Reader
	// Stdout and Stderr receive what the guest writes, while it writes it,
	// on the goroutine running the call; nil discards it. Writes to one
	// writer never overlap (several modules may share it). A write error,
	// or a panic in Write, drops the bytes; the guest does not see it.
	Stdout, Stderr io.Writer
	// OutputLimit caps the bytes passed on per call (and per load), for
	// stdout and for stderr each; the rest is dropped. 0 means no cap.
	OutputLimit int64
}

// Dir is a host directory made visible to a WASI guest.
type Dir struct {
	// HostPath is the directory on the host.
	HostPath string
	// GuestPath is where the guest sees it, e.g. "/data"; "" means HostPath.
	GuestPath string
	// Writable lets the guest create, write and delete files in it;
	// otherwise it is read-only.
	Writable bool
}

// WithWASI gives every module the host loads this WASI world (unless its
// LoadModule has WithModuleWASI). Modules that do not import WASI are not
// affected. cfg.Stdin is read by NewHost.
func WithWASI(cfg WASIConfig) Option {
	return func(h *Host) {
		if err := cfg.check(); err != nil {
			h.cfg.fail("WithWASI: %v", err)
			return
		}
		c := cfg
		h.cfg.wasi = &c
	}
}

// LoadOption configures one LoadModule call.
type LoadOption func(*loadConfig)

type loadConfig struct {
	wasi  *WASIConfig
	reset C.uint32_t // an sbx_reset_policy (reset.go)
	err   error
}

// WithModuleWASI gives the module this WASI world instead of the host's
// (WithWASI), and enables WASI for it even when the host has none.
// cfg.Stdin is read by LoadModule.
func WithModuleWASI(cfg WASIConfig) LoadOption {
	return func(l *loadConfig) {
		if err := cfg.check(); err != nil {
			if l.err == nil {
				l.err = fmt.Errorf("WithModuleWASI: %v", err)
			}
			return
		}
		c := cfg
		l.wasi = &c
	}
}

// check validates what the library would reject, so that the error names it.
func (cfg *WASIConfig) check() error {
	for _, d := range cfg.Dirs {
		if d.HostPath == "" {
			return fmt.Errorf("Dir{GuestPath: %q}: HostPath is empty", d.GuestPath)
		}
		if !utf8.ValidString(d.HostPath) || !utf8.ValidString(d.GuestPath) {
			return fmt.Errorf("Dir{HostPath: %q, GuestPath: %q}: paths must be UTF-8", d.HostPath, d.GuestPath)
		}
	}
	for _, kv := range cfg.Env {
		key, _, ok := strings.Cut(kv, "=")
		if !ok || key == "" || !utf8.ValidString(kv) {
			return fmt.Errorf("entry %q of Env: want KEY=value (UTF-8, non-empty KEY)", kv)
		}
	}
	for _, a := range cfg.Args {
		if !utf8.ValidString(a) {
			return fmt.Errorf("entry %q of Args: not UTF-8", a)
		}
	}
	if cfg.OutputLimit < 0 {
		return fmt.Errorf("OutputLimit %d: must not be negative", cfg.OutputLimit)
	}
	return nil
}

// build makes the C config; the caller frees it with sbx_wasi_config_free
// (the functions that take it copy it). Stdin is read here.
func (cfg *WASIConfig) build() (*C.sbx_wasi_config, error) {
	var stdin []byte
	if cfg.Stdin != nil {
		var err error
		if stdin, err = io.ReadAll(cfg.Stdin); err != nil {
			return nil, fmt.Errorf("reading WASIConfig.Stdin: %w", err)
		}
	}
	wc := C.sbx_wasi_config_new()
	if wc == nil {
		return nil, fmt.Errorf("cannot allocate a WASI config")
	}
	var err error
	set := func(what string, st C.sbx_status) {
		if st != C.SBX_STATUS_OK && err == nil {
			err = fmt.Errorf("%s: rejected by the library (%s)", what, statusName(status(st)))
		}
	}
	for _, d := range cfg.Dirs {
		guest := d.GuestPath
		if guest == "" {
			guest = d.HostPath
		}
		set(fmt.Sprintf("Dir{%q, %q}", d.HostPath, guest), C.sbx_wasi_config_preopen_dir(wc,
			stringPtr(d.HostPath), C.size_t(len(d.HostPath)), stringPtr(guest), C.size_t(len(guest)), C.bool(d.Writable)))
	}
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		set(fmt.Sprintf("Env %q", kv), C.sbx_wasi_config_env(wc, stringPtr(k), C.size_t(len(k)), stringPtr(v), C.size_t(len(v))))
	}
	for _, a := range cfg.Args {
		set(fmt.Sprintf("Args %q", a), C.sbx_wasi_config_arg(wc, stringPtr(a), C.size_t(len(a))))
	}
	if len(stdin) > 0 {
		set("Stdin", C.sbx_wasi_config_stdin(wc, bytesPtr(stdin), C.size_t(len(stdin))))
	}
	// A sink's registry entry is dropped by the library's free callback,
	// once the last copy of the config is gone (or right away on failure).
	if cfg.Stdout != nil {
		set("Stdout", C.sbx_go_wasi_output(wc, false, C.uintptr_t(newOutputSink(cfg.Stdout))))
	}
	if cfg.Stderr != nil {
		set("Stderr", C.sbx_go_wasi_output(wc, true, C.uintptr_t(newOutputSink(cfg.Stderr))))
	}
	if cfg.OutputLimit > 0 {
		set("OutputLimit", C.sbx_wasi_config_output_limit(wc, C.uint64_t(cfg.OutputLimit)))
	}
	if err != nil {
		C.sbx_wasi_config_free(wc)
		return nil, err
	}
	return wc, nil
}

// outputSink is a writer the library sends guest output to, by id.
type outputSink struct {
	mu sync.Mutex
	w  io.Writer
}

// newOutputSink registers w; 0 (discard) if the registry is full.
func newOutputSink(w io.Writer) uint64 {
	return outputSinks.add(&outputSink{w: w})
}

// writeOutput copies data (C memory, valid only during the callback) to the
// writer: a writer that keeps the slice must not see it change.
func writeOutput(id uint64, data []byte) {
	s := outputSinks.get(id)
	if s == nil {
		return
	}
	p := bytes.Clone(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { _ = recover() }() // a panicking writer drops the bytes
	_, _ = s.w.Write(p)
}
