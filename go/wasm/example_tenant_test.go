package wasm_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sbx-run/sbx/go/wasm"
)

// A pool serves one plugin to many goroutines. With WithResetAfterEachCall
// every request runs on a pristine instance: reset_state.wasm's
// remember(x) returns the x of the previous call on its instance, and no
// request ever sees one.
func ExampleCompiledModule_NewPool() {
	ctx := context.Background()
	host, err := wasm.NewHost(wasm.WithExecTimeout(time.Second))
	if err != nil {
		panic(err)
	}
	defer host.Close()
	wasmBytes, err := os.ReadFile("../../testdata/reset_state.wasm")
	if err != nil {
		panic(err)
	}
	compiled, err := host.CompileModule(ctx, wasmBytes)
	if err != nil {
		panic(err)
	}
	defer compiled.Close()
	pool, err := compiled.NewPool(4, wasm.WithResetAfterEachCall())
	if err != nil {
		panic(err)
	}
	defer pool.Close()

	seen := make([]int32, 8)
	var wg sync.WaitGroup
	for i := range seen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := pool.CallWithTimeout(ctx, "remember", wasm.EncodeI32(int32(100+i)))
			if err != nil {
				panic(err)
			}
			seen[i] = wasm.DecodeI32(res[0])
		}()
	}
	wg.Wait()
	stats := pool.Stats()
	fmt.Println("previous inputs seen:", seen)
	fmt.Println("calls:", stats.Modules.Calls, "at most 4 instances:", stats.Instances <= 4)
	// Output:
	// previous inputs seen: [0 0 0 0 0 0 0 0]
	// calls: 8 at most 4 instances: true
}

// Reset puts a module back to its state right after load: memory, every
// global (reset_state.wasm's is not exported) and tables.
func ExampleModule_Reset() {
	ctx := context.Background()
	host, err := wasm.NewHost()
	if err != nil {
		panic(err)
	}
	defer host.Close()
	wasmBytes, err := os.ReadFile("../../testdata/reset_state.wasm")
	if err != nil {
		panic(err)
	}
	mod, err := host.LoadModule(ctx, "state", wasmBytes)
	if err != nil {
		panic(err)
	}
	global := func() int32 {
		res, err := mod.CallWithTimeout(ctx, "global")
		if err != nil {
			panic(err)
		}
		return wasm.DecodeI32(res[0])
	}
	if _, err := mod.CallWithTimeout(ctx, "mutate"); err != nil {
		panic(err)
	}
	fmt.Println("after mutate:", global())
	if err := mod.Reset(ctx); err != nil {
		panic(err)
	}
	fmt.Println("after Reset:", global(), "resets:", mod.Stats().Resets)
	// Output:
	// after mutate: 99
	// after Reset: 7 resets: 1
}
