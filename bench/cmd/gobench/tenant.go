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
	b.instantiateCases("tenant.inst", true, "instantiate a compiled module + Close", host.compiledInstantiator)
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type serveFunc = func(ctx context.Context, params ...uint64) ([]uint64, error)

// tally is what some goroutines did in some time.
type tally struct {
	lats      []float64
	took, cpu time.Duration
}

func (t *tally) add(u tally) {
	t.lats = append(t.lats, u.lats...)
	t.took += u.took
	t.cpu += u.cpu
}

// emit reports t as requests/s with its p99 latency and the CPU time per
// request (which, unlike requests/s, does not depend on how much of the
// machine others leave free).
func (b *bench) emitTally(c string, t tally, g int, want uint64, note string) {
	s := percentiles(t.lats)
	n := float64(len(t.lats))
	b.emit(result{"case": c, "value": n / t.took.Seconds(), "unit": "calls/s", "p99": s.p99 / 1e3, "p99_unit": "us",
		"cpu_us": float64(t.cpu.Microseconds()) / n, "goroutines": g,
		"checksum": strconv.FormatInt(int64(want), 10), "note": note})
}

// drive runs g goroutines for dur, goroutine i calling serves[i%len(serves)].
func drive(g int, serves []serveFunc, want uint64, dur time.Duration) (tally, error) {
	ctx := context.Background()
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
				r, err := serves[i%len(serves)](ctx, jsonRequest)
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
	t := tally{took: time.Since(t0), cpu: cpuTime() - cpu0}
	for i := range perG {
		if errs[i] != nil {
			return tally{}, errs[i]
		}
		t.lats = append(t.lats, perG[i]...)
	}
	return t, nil
}

// setup is g goroutines' way to json.wasm: one server of size g, or, with
// split, g servers of size 1, one per goroutine (nothing shared: what the
// machine allows).
type setup struct {
	g      int
	serves []serveFunc
	want   uint64
	stops  []func()
}

func (s *setup) close() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
}

func (b *bench) newSetup(g int, split, fresh bool) (*setup, error) {
	ctx := context.Background()
	h, err := b.tenantHost(runtime.GOMAXPROCS(0) + 4)
	if err != nil {
		return nil, err
	}
	s := &setup{g: g, stops: []func(){h.close}}
	wasmBytes := b.read("testdata/programs/json.wasm")
	for i := 0; i < g; i++ {
		size := g
		if split {
			size = 1
		}
		serve, stop, err := h.server(ctx, wasmBytes, "run", size, fresh)
		if err != nil {
			s.close()
			return nil, err
		}
		s.stops = append(s.stops, stop)
		s.serves = append(s.serves, serve)
		if !split {
			break
		}
	}
	want, err := s.serves[0](ctx, jsonRequest)
	if err != nil {
		s.close()
		return nil, err
	}
	s.want = want[0]
	return s, nil
}

// interleaved measures cases side by side: rounds of each in turn, so that
// a burst of load elsewhere on the machine hits them all alike.
func (b *bench) interleaved(names []string, g []int, split []bool, fresh bool, notes []string) {
	rounds, slice := 8, 250*time.Millisecond
	if b.smoke {
		rounds, slice = 1, 30*time.Millisecond
	}
	setups := make([]*setup, len(names))
	for i := range names {
		s, err := b.newSetup(g[i], split[i], fresh)
		if err != nil {
			b.fail(names[i], err)
			continue
		}
		defer s.close()
		setups[i] = s
	}
	tallies := make([]tally, len(names))
	failed := make([]bool, len(names))
	for r := 0; r < rounds; r++ {
		for i, s := range setups {
			if s == nil || failed[i] {
				continue
			}
			t, err := drive(s.g, s.serves, s.want, slice)
			if err != nil {
				b.fail(names[i], err)
				failed[i] = true
				continue
			}
			tallies[i].add(t)
		}
	}
	for i, s := range setups {
		if s != nil && !failed[i] {
			b.emitTally(names[i], tallies[i], s.g, s.want, notes[i])
		}
	}
}

// tenantRequests: a fresh instance per request, json.wasm run(10), from 1
// and from GOMAXPROCS goroutines.
func (b *bench) tenantRequests() {
	note := fmt.Sprintf("json.wasm run(%d) per request on a pristine instance; "+
		"sbx: Pool of G with WithResetAfterEachCall; wazero: InstantiateModule + call + Close", jsonRequest)
	procs := runtime.GOMAXPROCS(0)
	b.interleaved([]string{"tenant.rps.1", "tenant.rps.P"}, []int{1, procs}, []bool{false, false}, true,
		[]string{note, note})
}

// tenantPoolScaling: a pool of GOMAXPROCS instances from GOMAXPROCS
// goroutines against a pool of 1 from 1, and, for the machine's own
// ceiling, GOMAXPROCS goroutines each with its own pool of 1.
func (b *bench) tenantPoolScaling() {
	procs := runtime.GOMAXPROCS(0)
	note := fmt.Sprintf("json.wasm run(%d) per call; a Pool of G instances from G goroutines", jsonRequest)
	split := fmt.Sprintf("json.wasm run(%d) per call; G goroutines, each its own Pool of 1 (nothing shared)", jsonRequest)
	b.interleaved([]string{"tenant.pool.1", "tenant.pool.P", "tenant.pool.Psplit"}, []int{1, procs, procs},
		[]bool{false, false, true}, false, []string{note, note, split})
}
