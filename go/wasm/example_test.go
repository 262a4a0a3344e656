package wasm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sbx-run/sbx/go/wasm"
)

func ExampleNewHost() {
	host, err := wasm.NewHost(
		wasm.WithExecTimeout(100*time.Millisecond),
		wasm.WithMemoryLimit(16<<20),
		wasm.WithMaxModules(64),
	)
	if err != nil {
		panic(err)
	}
	defer host.Close()
	fmt.Println("exec timeout:", host.ExecTimeout())

	_, err = wasm.NewHost(wasm.WithMemoryLimit(1))
	fmt.Println(errors.Is(err, wasm.ErrInvalidOption))
	// Output:
	// exec timeout: 100ms
	// true
}

func ExampleHost_LoadModule() {
	host, err := wasm.NewHost()
	if err != nil {
		panic(err)
	}
	defer host.Close()
	wasmBytes, err := os.ReadFile("../../testdata/add.wasm")
	if err != nil {
		panic(err)
	}
	mod, err := host.LoadModule(context.Background(), "math", wasmBytes)
	if err != nil {
		panic(err)
	}
	defer mod.Close(context.Background())
	for _, f := range mod.ExportedFunctions() {
		fmt.Println(f)
	}

	_, err = host.LoadModule(context.Background(), " ", wasmBytes)
	fmt.Println(errors.Is(err, wasm.ErrInvalidName))
	// Output:
	// add(i32, i32) -> i32
	// true
}

func ExampleModule_CallWithTimeout() {
	host, err := wasm.NewHost(wasm.WithExecTimeout(50 * time.Millisecond))
	if err != nil {
		panic(err)
	}
	defer host.Close()
	ctx := context.Background()

	add, _ := os.ReadFile("../../testdata/add.wasm")
	mod, err := host.LoadModule(ctx, "add", add)
	if err != nil {
		panic(err)
	}
	results, err := mod.CallWithTimeout(ctx, "add", wasm.EncodeI32(40), wasm.EncodeI32(2))
	if err != nil {
		panic(err)
	}
	fmt.Println("add(40, 2) =", wasm.DecodeI32(results[0]))

	loop, _ := os.ReadFile("../../testdata/infinite_loop.wasm")
	spin, err := host.LoadModule(ctx, "loop", loop)
	if err != nil {
		panic(err)
	}
	_, err = spin.CallWithTimeout(ctx, "loop")
	fmt.Println("loop stopped:", errors.Is(err, context.DeadlineExceeded))
	// Output:
	// add(40, 2) = 42
	// loop stopped: true
}
