package main

// (11) Multi-tenant hosting (issue 11), the Go side: a fresh instance from
// a compiled module and its Close; requests per second when every request
// gets a pristine instance; and how a pool scales with goroutines. The
// core's instantiate, reset and call cases are in benches/tenant.rs.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// jsonRequest is the request handler's work: json.wasm's run(n) generates,
// parses and re-serialises n records (programs.tsv's case uses 8000).
const jsonRequest = 10

func (b *bench) caseTenant() {
	b.tenantInstantiate()
	b.tenantRequests()
	b.tenantPoolScaling()
}

// tenantHost is a pooled host where the runtime has one, else on-demand.
func (b *bench) tenantHost(maxModules int) (host, error) {
	h, err := b.rt.newHost(hostConfig{execTimeout: armedTimeout, pooling: true, maxModules: maxModules})
	var na naError
	if errors.As(err, &na) {
		h, err = b.rt.newHost(hostConfig{execTimeout: armedTimeout, maxModules: maxModules})
	}
	return h, err
}

// tenantInstantiate: CompiledModule.Instantiate + Close, both timed.
func (b *bench) tenantInstantiate() {
	ctx := context.Background()
	for _, pooling := range []bool{true, false} {
		kind := "tenant.inst.ondemand"
		if pooling {
			kind = "tenant.inst.pooling"
		}
		for _, f := range []struct{ tag, file string }{{"add", "testdata/add.wasm"}, {"lz77", "testdata/programs/lz77.wasm"}} {
			c := kind + "." + f.tag
			h, err := b.rt.newHost(hostConfig{pooling: pooling, maxModules: 100})
			if err != nil {
				b.fail(c, err)
				continue
			}
			inst, err := h.compiledInstantiator(ctx, b.read(f.file))
			if err != nil {
				h.close()
				b.fail(c, err)
				continue
			}
			var xs []float64
			for i := 0; i < b.reps(2000, 5); i++ {
				name := "i" + strconv.Itoa(i)
				t := time.Now()
				closeFn, err := inst(name)
				if err != nil {
					b.fail(c, err)
					xs = nil
					break
				}
				closeFn()
				xs = append(xs, ns(time.Since(t)))
			}
			if xs != nil {
				r := statResult(c, xs, "us", 1e3)
				r["note"] = "instantiate a compiled module + Close"
				b.emit(r)
			}
			h.close()
		}
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// drive runs serve from g goroutines for dur; returns requests/s, the
// latencies, and the CPU time per request (which, unlike requests/s, does
// not depend on how much of the machine others leave free).
func (b *bench) drive(g int, serve func(ctx context.Context, params ...uint64) ([]uint64, error), want uint64) (rate float64, lats []float64, cpuPer time.Duration, err error) {
	ctx := context.Background()
	dur := 2 * time.Second
	if b.smoke {
		dur = 50 * time.Millisecond
	}
	var wg sync.WaitGroup
	perG := make([][]float64, g)
	errs := make([]error, g)
	start := make(chan struct{})
	for i := 0; i < g; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			for t0 := time.Now(); time.Since(t0) < dur; {
				t := time.Now()
				r, err := serve(ctx, jsonRequest)
				perG[i] = append(perG[i], ns(time.Since(t)))
				if err == nil && (len(r) != 1 || r[0] != want) {
					err = fmt.Errorf("run(%d) = %v, want %d", jsonRequest, r, int64(want))
				}
				if err != nil {
					errs[i] = err
					return
				}
			}
		}(i)
	}
	runtime.GC()
	cpu0, t0 := cpuTime(), time.Now()
	close(start)
	wg.Wait()
	took, cpu := time.Since(t0), cpuTime()-cpu0
	for i := range perG {
		if errs[i] != nil {
			return 0, nil, 0, errs[i]
		}
		lats = append(lats, perG[i]...)
	}
	return float64(len(lats)) / took.Seconds(), lats, cpu / time.Duration(len(lats)), nil
}

// serveCase measures one server at 1 and at GOMAXPROCS goroutines,
// emitting cases prefix+".1" and prefix+".P".
func (b *bench) serveCase(prefix string, fresh bool, note string) {
	ctx := context.Background()
	procs := runtime.GOMAXPROCS(0)
	wasmBytes := b.read("testdata/programs/json.wasm")
	for _, g := range []int{1, procs} {
		c := prefix + ".1"
		if g > 1 {
			c = prefix + ".P"
		}
		h, err := b.tenantHost(procs + 4)
		if err != nil {
			b.fail(c, err)
			continue
		}
		serve, stop, err := h.server(ctx, wasmBytes, "run", g, fresh)
		if err != nil {
			h.close()
			b.fail(c, err)
			continue
		}
		want, err := serve(ctx, jsonRequest)
		if err == nil {
			var rate float64
			var lats []float64
			var cpuPer time.Duration
			if rate, lats, cpuPer, err = b.drive(g, serve, want[0]); err == nil {
				s := percentiles(lats)
				b.emit(result{"case": c, "value": rate, "unit": "calls/s", "p99": s.p99 / 1e3, "p99_unit": "us",
					"cpu_us": float64(cpuPer.Nanoseconds()) / 1e3, "goroutines": g, "size": g,
					"checksum": strconv.FormatInt(int64(want[0]), 10), "note": note})
			}
		}
		if err != nil {
			b.fail(c, err)
		}
		stop()
		h.close()
	}
}

// tenantRequests: a fresh instance per request, json.wasm run(10).
func (b *bench) tenantRequests() {
	b.serveCase("tenant.rps", true, fmt.Sprintf("json.wasm run(%d) per request on a pristine instance; "+
		"sbx: Pool of G with WithResetAfterEachCall; wazero: InstantiateModule + call + Close", jsonRequest))
}

// tenantPoolScaling: a pool of GOMAXPROCS instances from GOMAXPROCS
// goroutines against a pool of 1 from 1.
func (b *bench) tenantPoolScaling() {
	b.serveCase("tenant.pool", false, fmt.Sprintf("json.wasm run(%d) per call; a Pool of G instances from G goroutines", jsonRequest))
}
