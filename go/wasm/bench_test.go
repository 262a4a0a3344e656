package wasm

import (
	"context"
	"testing"
	"time"
)

func BenchmarkCallWithTimeout(b *testing.B) {
	h := newHost(b, WithExecTimeout(time.Second))
	m := load(b, h, "add")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.CallWithTimeout(ctx, "add", 1, 2); err != nil {
			b.Fatal(err)
		}
	}
}

// Without an ExecTimeout the library arms no deadline and reads no clock.
func BenchmarkCallWithTimeoutNoExecTimeout(b *testing.B) {
	h := newHost(b)
	m := load(b, h, "add")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.CallWithTimeout(ctx, "add", 1, 2); err != nil {
			b.Fatal(err)
		}
	}
}

// The bare cgo crossing: the floor under every call.
func BenchmarkCgoCrossing(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = cgoCrossing()
	}
}

func BenchmarkCallWithTimeoutCancellable(b *testing.B) {
	h := newHost(b, WithExecTimeout(time.Second))
	m := load(b, h, "add")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.CallWithTimeout(ctx, "add", 1, 2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCallWithTimeoutDeadline(b *testing.B) {
	h := newHost(b, WithExecTimeout(time.Second))
	m := load(b, h, "add")
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.CallWithTimeout(ctx, "add", 1, 2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCallWithTimeoutNoop(b *testing.B) {
	h := newHost(b, WithExecTimeout(time.Second))
	m := load(b, h, "noop")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.CallWithTimeout(ctx, "noop"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCallWithTimeoutParallel(b *testing.B) {
	h := newHost(b, WithExecTimeout(time.Second))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		m, err := h.LoadModule(context.Background(), "add", fixture(b, "add"))
		if err != nil {
			b.Error(err)
			return
		}
		defer m.Close(context.Background())
		for pb.Next() {
			if _, err := m.CallWithTimeout(context.Background(), "add", 1, 2); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkLoadModule(b *testing.B) {
	h := newHost(b)
	wasm := fixture(b, "add")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m, err := h.LoadModule(ctx, "add", wasm)
		if err != nil {
			b.Fatal(err)
		}
		m.Close(ctx)
	}
}

// BenchmarkHostFunctionRoundTrip calls a guest that calls a Go host function
// 1,000 times per call; ns/roundtrip is one wasm -> Go -> wasm crossing.
func BenchmarkHostFunctionRoundTrip(b *testing.B) {
	const perCall = 1000
	h := newHost(b)
	defineF(b, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		stack[0]++
		return nil
	})
	m := loadHostCall(b, h)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.CallWithTimeout(ctx, "loop", perCall); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perCall), "ns/roundtrip")
}

// Calls from every goroutine on one module: they queue for it.
func BenchmarkCallWithTimeoutSharedModule(b *testing.B) {
	h := newHost(b, WithExecTimeout(time.Second))
	m := load(b, h, "add")
	b.ReportAllocs()
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.CallWithTimeout(context.Background(), "add", 1, 2); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// One host function call per call, under an ExecTimeout: what the host
// functions' ctx costs a call that reaches one.
func BenchmarkHostFunctionOnePerCall(b *testing.B) {
	h := newHost(b, WithExecTimeout(time.Second))
	defineF(b, h, func(ctx context.Context, c *Caller, stack []uint64) error {
		stack[0]++
		return nil
	})
	m := loadHostCall(b, h)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.CallWithTimeout(ctx, "loop", 1); err != nil {
			b.Fatal(err)
		}
	}
}
