package main

import (
	"context"
	"fmt"

	"github.com/sbx-run/sbx/go/wasm"
)

// demoReset shows WithResetAfterFailure: reset_state.wasm's
// mutate_then_spin overwrites its memory, global and table and then spins
// until host's exec timeout stops it; the failed state stays readable,
// and the next call starts from a fresh instance.
func demoReset(ctx context.Context, host *wasm.Host, wasmBytes []byte, out func(string, ...any)) error {
	compiled, err := host.CompileModule(ctx, wasmBytes)
	if err != nil {
		return err
	}
	defer compiled.Close()
	mod, err := compiled.Instantiate(ctx, "reset_state", wasm.WithResetAfterFailure())
	if err != nil {
		return err
	}
	defer mod.Close(ctx)
	byte0 := func() (int32, error) {
		res, err := mod.CallWithTimeout(ctx, "byte")
		if err != nil {
			return 0, err
		}
		return wasm.DecodeI32(res[0]), nil
	}
	before, err := byte0()
	if err != nil {
		return err
	}
	_, callErr := mod.CallWithTimeout(ctx, "mutate_then_spin")
	if callErr == nil {
		return fmt.Errorf("demo: mutate_then_spin() returned")
	}
	var failed [1]byte
	mod.Memory().ReadInto(0, failed[:]) // the failed state, until the next call
	after, err := byte0()
	if err != nil {
		return err
	}
	out("\nWithResetAfterFailure: memory[0] = %d; mutate_then_spin() set it to %d and was stopped (%s);", before, failed[0], errorKind(callErr))
	out("the next call starts fresh: memory[0] = %d (%d reset)", after, mod.Stats().Resets)
	return nil
}
