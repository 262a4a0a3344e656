package wasm_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/sbx-run/sbx/go/wasm"
)

// pluginPath is testdata/wasi/plugin.wasm, built from plugin.c beside it.
var pluginPath = "../../testdata/wasi/plugin.wasm"

// The README's plugin example (between its plugin-example markers, checked
// by TestREADMEPluginExampleIsCurrent): a host function that reads the
// guest's memory, a WASI guest whose stdout is captured, input written into
// guest memory.
func Example_plugin() {
	ctx := context.Background()
	host, err := wasm.NewHost(wasm.WithExecTimeout(time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()

	// host.shout(ptr, len i32) -> i32: the plugin passes a string in its memory.
	i32 := wasm.ValueTypeI32
	err = host.DefineFunction("host", "shout", []wasm.ValueType{i32, i32}, []wasm.ValueType{i32},
		func(ctx context.Context, caller *wasm.Caller, stack []uint64) error {
			ptr, n := wasm.DecodeU32(stack[0]), wasm.DecodeU32(stack[1])
			text, ok := caller.Memory().Read(ptr, n)
			if !ok {
				return fmt.Errorf("%d bytes at %#x are outside the plugin's memory", n, ptr)
			}
			fmt.Println("host.shout:", strings.ToUpper(string(text)))
			stack[0] = wasm.EncodeI32(41)
			return nil
		})
	if err != nil {
		log.Fatal(err)
	}

	wasmBytes, err := os.ReadFile(pluginPath)
	if err != nil {
		log.Fatal(err)
	}
	var stdout bytes.Buffer // the plugin's printf output
	plugin, err := host.LoadModule(ctx, "plugin", wasmBytes,
		wasm.WithModuleWASI(wasm.WASIConfig{Stdout: &stdout}))
	if err != nil {
		log.Fatal(err)
	}
	defer plugin.Close(ctx)

	// Write the input into the plugin's buffer, then call greet(len).
	res, err := plugin.CallWithTimeout(ctx, "input_buffer")
	if err != nil {
		log.Fatal(err)
	}
	input := []byte("world")
	if !plugin.Memory().Write(wasm.DecodeU32(res[0]), input) {
		log.Fatal("the input does not fit in the plugin's memory")
	}
	res, err = plugin.CallWithTimeout(ctx, "greet", wasm.EncodeU32(uint32(len(input))))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("greet returned", wasm.DecodeI32(res[0]))
	fmt.Print("plugin printed: ", stdout.String())
	// Output:
	// host.shout: WORLD
	// greet returned 42
	// plugin printed: hello, world!
}
