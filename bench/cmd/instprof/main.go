//go:build sbx

// Temporary profiling driver (not committed).
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/sbx-run/sbx/go/wasm"
)

func main() {
	ctx := context.Background()
	h, err := wasm.NewHost(wasm.WithPooling(true), wasm.WithMaxModules(100))
	if err != nil {
		panic(err)
	}
	bytes, _ := os.ReadFile(os.Args[1])
	n, _ := strconv.Atoi(os.Args[2])
	cm, err := h.CompileModule(ctx, bytes)
	if err != nil {
		panic(err)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = "i" + strconv.Itoa(i)
	}
	t := time.Now()
	for i := 0; i < n; i++ {
		m, err := cm.Instantiate(ctx, names[i])
		if err != nil {
			panic(err)
		}
		m.Close(ctx)
	}
	fmt.Println(time.Since(t) / time.Duration(n))
}
