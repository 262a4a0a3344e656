// Command gobench runs the Go side of `make bench` for one runtime per
// process (sbx, wazero-close, wazero) and prints one JSON object per result,
// the format bench/cmd/table merges with the raw-Wasmtime floor:
//
//	{"runtime":"sbx","case":"call.add","value":61.2,"unit":"ns","allocs":1}
//
// Usage: gobench -runtime NAME [-smoke] [-root DIR] [-out FILE] [-only CASE]
// Built with -tags sbx it includes sbx; without, only wazero.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// armedTimeout is the exec timeout of every compute case: armed, never hit.
const armedTimeout = 10 * time.Second

type hostConfig struct {
	execTimeout time.Duration
	pooling     bool
	maxModules  int
	cacheDir    string
	hostInc     bool // provide env.inc(i32) -> i32 to guests
}

type rt interface {
	name() string
	newHost(cfg hostConfig) (host, error)
}

type host interface {
	load(ctx context.Context, name string, wasmBytes []byte) (module, error)
	// instantiator returns a function making a fresh instance of wasmBytes
	// (compiled once beforehand) and returning its closer.
	instantiator(ctx context.Context, wasmBytes []byte) (func(name string) (closer, error), error)
	// compiledInstantiator is instantiator through the runtime's
	// compile-once API (sbx: CompiledModule.Instantiate; wazero: the same
	// as instantiator).
	compiledInstantiator(ctx context.Context, wasmBytes []byte) (func(name string) (closer, error), error)
	// server returns a handler for concurrent requests calling fnName on
	// wasmBytes, backed by at most size instances; with fresh, every
	// request sees a pristine instance.
	server(ctx context.Context, wasmBytes []byte, fnName string, size int, fresh bool) (serve func(ctx context.Context, params ...uint64) ([]uint64, error), stop func(), err error)
	close()
}

// closer is an instance as the instantiate cases hold it: the runtime's
// own type, so that the timed code allocates nothing of the harness's.
type closer interface {
	Close(ctx context.Context) error
}

type module interface {
	call(ctx context.Context, fnName string, params ...uint64) ([]uint64, error)
	close(ctx context.Context)
	memory() (memoryAccess, bool)
}

type memoryAccess interface {
	write(off uint32, data []byte) bool
	read(off uint32, into []byte) bool
}

var runtimes = []rt{wazeroRuntime{closeOnDone: true}, wazeroRuntime{closeOnDone: false}}

// naError marks a case a runtime cannot do; its message is the reason.
type naError string

func (e naError) Error() string { return string(e) }
func errNA(why string) error    { return naError(why) }

type result map[string]any

type bench struct {
	rt    rt
	smoke bool
	root  string
	out   []result
}

func (b *bench) emit(r result) {
	r["runtime"] = b.rt.name()
	line, _ := json.Marshal(r)
	fmt.Fprintln(os.Stderr, string(line))
	b.out = append(b.out, r)
}

func (b *bench) na(c, why string) { b.emit(result{"case": c, "value": nil, "na": why}) }

// fail records a case that broke, so one failure does not hide the others.
func (b *bench) fail(c string, err error) {
	var na naError
	if errors.As(err, &na) {
		b.na(c, string(na))
		return
	}
	b.emit(result{"case": c, "value": nil, "error": err.Error()})
}

func (b *bench) reps(full, smoke int) int {
	if b.smoke {
		return smoke
	}
	return full
}

func (b *bench) read(rel string) []byte {
	data, err := os.ReadFile(filepath.Join(b.root, rel))
	if err != nil {
		panic(err)
	}
	return data
}

type stats struct{ min, p50, p99, max float64 }

func percentiles(xs []float64) stats {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return stats{s[0], at(0.5), at(0.99), s[len(s)-1]}
}

func statResult(c string, xs []float64, unit string, scale float64) result {
	s := percentiles(xs)
	return result{"case": c, "value": s.p50 / scale, "min": s.min / scale, "p99": s.p99 / scale, "max": s.max / scale, "n": len(xs), "unit": unit}
}

func ns(d time.Duration) float64 { return float64(d.Nanoseconds()) }

// perCall times f in batches for about budget and returns the median ns per
// call and the mallocs per call.
func perCall(budget time.Duration, f func() error) (nsOp, allocs float64, err error) {
	for i := 0; i < 1000; i++ {
		if err := f(); err != nil {
			return 0, 0, err
		}
	}
	batch := 0
	for t := time.Now(); time.Since(t) < 5*time.Millisecond; batch++ {
		_ = f()
	}
	batch = max(batch, 1)
	var samples []float64
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	calls := 0
	for start := time.Now(); time.Since(start) < budget || len(samples) < 3; {
		t := time.Now()
		for i := 0; i < batch; i++ {
			_ = f()
		}
		samples = append(samples, ns(time.Since(t))/float64(batch))
		calls += batch
	}
	runtime.ReadMemStats(&ms1)
	return percentiles(samples).p50, float64(ms1.Mallocs-ms0.Mallocs) / float64(calls), nil
}

func (b *bench) loadOne(cfg hostConfig, rel string) (host, module, error) {
	h, err := b.rt.newHost(cfg)
	if err != nil {
		return nil, nil, err
	}
	m, err := h.load(context.Background(), "m", b.read(rel))
	if err != nil {
		h.close()
		return nil, nil, err
	}
	return h, m, nil
}

// (1) and (2): call overhead.
func (b *bench) caseCalls() {
	budget := time.Second
	if b.smoke {
		budget = 20 * time.Millisecond
	}
	h, m, err := b.loadOne(hostConfig{execTimeout: armedTimeout}, "testdata/add.wasm")
	if err != nil {
		b.fail("call.add", err)
		return
	}
	defer h.close()
	bg := context.Background()
	// Params go in as a prepared slice: a variadic call through the module
	// interface would heap-allocate them, which a direct call with literal
	// arguments does not; this keeps the harness out of allocs/op.
	params := []uint64{2, 3}
	add := func(ctx context.Context) func() error {
		return func() error {
			r, err := m.call(ctx, "add", params...)
			if err == nil && (len(r) != 1 || r[0] != 5) {
				err = fmt.Errorf("add(2,3) = %v", r)
			}
			return err
		}
	}
	if nsOp, allocs, err := perCall(budget, add(bg)); err != nil {
		b.fail("call.add", err)
	} else {
		b.emit(result{"case": "call.add", "value": nsOp, "unit": "ns", "allocs": allocs,
			"note": "CallWithTimeout(ctx.Background, add, 2, 3), exec timeout set"})
	}
	cctx, cancel := context.WithCancel(bg)
	defer cancel()
	if nsOp, allocs, err := perCall(budget, add(cctx)); err != nil {
		b.fail("call.add.cancelctx", err)
	} else {
		b.emit(result{"case": "call.add.cancelctx", "value": nsOp, "unit": "ns", "allocs": allocs,
			"note": "the same through a context.WithCancel ctx"})
	}

	hn, mn, err := b.loadOne(hostConfig{execTimeout: armedTimeout}, "testdata/noop.wasm")
	if err != nil {
		b.fail("call.noop", err)
		return
	}
	defer hn.close()
	if nsOp, allocs, err := perCall(budget, func() error { _, err := mn.call(bg, "noop"); return err }); err != nil {
		b.fail("call.noop", err)
	} else {
		b.emit(result{"case": "call.noop", "value": nsOp, "unit": "ns", "allocs": allocs})
	}
}

type program struct {
	name, file, export string
	arg                int64
	expected           int64
}

func (b *bench) programs() []program {
	var ps []program
	for _, line := range strings.Split(string(b.read("testdata/programs/programs.tsv")), "\n") {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "\t")
		arg, _ := strconv.ParseInt(f[3], 10, 64)
		want, _ := strconv.ParseInt(f[4], 10, 64)
		ps = append(ps, program{f[0], f[1], f[2], arg, want})
	}
	return ps
}

// checksumOK compares a result with the expected value for an i64 result or
// a sign-extended i32 one.
func checksumOK(r []uint64, want int64) bool {
	return len(r) == 1 && (int64(r[0]) == want || int64(int32(uint32(r[0]))) == want)
}

// (3): compute-heavy guests with timeouts armed.
func (b *bench) casePrograms() {
	ctx := context.Background()
	h, err := b.rt.newHost(hostConfig{execTimeout: armedTimeout})
	if err != nil {
		b.fail("prog", err)
		return
	}
	defer h.close()
	for _, p := range b.programs() {
		c := "prog." + p.name
		m, err := h.load(ctx, p.name, b.read(p.file))
		if err != nil {
			b.fail(c, err)
			continue
		}
		r, err := m.call(ctx, p.export, uint64(p.arg))
		if err != nil {
			b.fail(c, err)
			continue
		}
		if !checksumOK(r, p.expected) {
			b.fail(c, fmt.Errorf("wrong checksum %d, want %d", int64(r[0]), p.expected))
			continue
		}
		var xs []float64
		for i := 0; i < b.reps(15, 2); i++ {
			t := time.Now()
			r, err = m.call(ctx, p.export, uint64(p.arg))
			xs = append(xs, ns(time.Since(t)))
			if err != nil || !checksumOK(r, p.expected) {
				b.fail(c, fmt.Errorf("rep %d: %v %v", i, r, err))
				break
			}
		}
		res := statResult(c, xs, "ms", 1e6)
		res["checksum"] = strconv.FormatInt(p.expected, 10)
		b.emit(res)
		m.close(ctx)
	}
}

// (4): memory traffic.
func (b *bench) caseMemory() {
	ctx := context.Background()
	h, m, err := b.loadOne(hostConfig{execTimeout: armedTimeout}, "testdata/programs/memops.wasm")
	if err != nil {
		b.fail("mem.hostio", err)
		return
	}
	defer h.close()
	if mem, ok := m.memory(); !ok {
		b.na("mem.hostio", "the module exports no memory")
	} else {
		r, err := m.call(ctx, "buf")
		if err != nil {
			b.fail("mem.hostio", err)
			return
		}
		base := uint32(r[0])
		data := make([]byte, 1<<20)
		for i := range data {
			data[i] = byte(uint32(i) * 2654435761 >> 13)
		}
		back := make([]byte, len(data))
		var xs []float64
		for i := 0; i < b.reps(200, 3); i++ {
			t := time.Now()
			if !mem.write(base, data) || !mem.read(base, back) {
				b.fail("mem.hostio", errors.New("out of range"))
				return
			}
			xs = append(xs, ns(time.Since(t)))
		}
		if string(back) != string(data) {
			b.fail("mem.hostio", errors.New("read back differs"))
			return
		}
		b.emit(statResult("mem.hostio", xs, "us", 1e3))
	}
	const n = 64
	want, err := m.call(ctx, "run", n)
	if err != nil {
		b.fail("mem.guestcopy", err)
		return
	}
	var xs []float64
	for i := 0; i < b.reps(15, 2); i++ {
		t := time.Now()
		r, err := m.call(ctx, "run", n)
		xs = append(xs, ns(time.Since(t)))
		if err != nil || r[0] != want[0] {
			b.fail("mem.guestcopy", fmt.Errorf("%v %v", r, err))
			return
		}
	}
	res := statResult("mem.guestcopy", xs, "ms", 1e6)
	res["checksum"] = strconv.FormatInt(int64(want[0]), 10)
	b.emit(res)
}

const largeWasm = "testdata/programs/large.wasm"

// (5): loading the large module: cold, again from memory, from disk in a
// new process.
func (b *bench) caseLoading() {
	ctx := context.Background()
	bytes := b.read(largeWasm)
	var cold, warm []float64
	for i := 0; i < b.reps(5, 1); i++ {
		h, err := b.rt.newHost(hostConfig{})
		if err != nil {
			b.fail("load.cold", err)
			return
		}
		t := time.Now()
		m, err := h.load(ctx, "large", bytes)
		if err != nil {
			h.close()
			b.fail("load.cold", err)
			return
		}
		cold = append(cold, ns(time.Since(t)))
		m.close(ctx)
		for j := 0; j < b.reps(4, 1); j++ {
			t = time.Now()
			m, err = h.load(ctx, fmt.Sprintf("large-%d", j), bytes)
			if err != nil {
				h.close()
				b.fail("load.memcache", err)
				return
			}
			warm = append(warm, ns(time.Since(t)))
			m.close(ctx)
		}
		h.close()
	}
	res := statResult("load.cold", cold, "ms", 1e6)
	res["note"] = fmt.Sprintf("LoadModule of %d KB on a fresh host", len(bytes)/1000)
	b.emit(res)
	res = statResult("load.memcache", warm, "ms", 1e6)
	res["note"] = "LoadModule of the same bytes again on the same host"
	b.emit(res)

	dir, err := os.MkdirTemp("", "sbx-bench-cache-")
	if err != nil {
		b.fail("load.diskcache", err)
		return
	}
	defer os.RemoveAll(dir)
	h, err := b.rt.newHost(hostConfig{cacheDir: dir})
	if err != nil {
		b.fail("load.diskcache", err)
		return
	}
	m, err := h.load(ctx, "large", bytes)
	if err != nil {
		h.close()
		b.fail("load.diskcache", err)
		return
	}
	m.close(ctx)
	h.close()
	var disk []float64
	for i := 0; i < b.reps(5, 1); i++ {
		out, err := b.child("diskload", dir)
		if err != nil {
			b.fail("load.diskcache", err)
			return
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
		if err != nil {
			b.fail("load.diskcache", fmt.Errorf("child said %q", out))
			return
		}
		disk = append(disk, v)
	}
	res = statResult("load.diskcache", disk, "ms", 1e6)
	res["note"] = "LoadModule with a populated cache dir, in a new process"
	b.emit(res)
}

func (b *bench) child(what string, args ...string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(exe, append([]string{"-runtime", b.rt.name(), "-root", b.root, "-child", what}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	return string(out), err
}

func (b *bench) childDiskload(dir string) {
	h, err := b.rt.newHost(hostConfig{cacheDir: dir})
	if err != nil {
		panic(err)
	}
	bytes := b.read(largeWasm)
	t := time.Now()
	m, err := h.load(context.Background(), "large", bytes)
	d := time.Since(t)
	if err != nil {
		panic(err)
	}
	m.close(context.Background())
	h.close()
	fmt.Println(d.Nanoseconds())
}

// (6): a fresh instance from a compiled module.
func (b *bench) caseInstantiate() {
	b.instantiateCases("inst", false, "", host.instantiator)
}

// instantiateCases times making a fresh instance with mk's instantiator,
// pooled and on demand, for add and lz77; timeClose adds the Close to the
// timed part.
func (b *bench) instantiateCases(prefix string, timeClose bool, note string,
	mk func(host, context.Context, []byte) (func(name string) (closer, error), error)) {
	ctx := context.Background()
	for _, pooling := range []bool{true, false} {
		kind := prefix + ".ondemand"
		if pooling {
			kind = prefix + ".pooling"
		}
		for _, f := range []struct{ tag, file string }{{"add", "testdata/add.wasm"}, {"lz77", "testdata/programs/lz77.wasm"}} {
			c := kind + "." + f.tag
			h, err := b.rt.newHost(hostConfig{pooling: pooling, maxModules: 100})
			if err != nil {
				b.fail(c, err)
				continue
			}
			inst, err := mk(h, ctx, b.read(f.file))
			if err != nil {
				h.close()
				b.fail(c, err)
				continue
			}
			var xs []float64
			warm := b.reps(200, 0) // untimed, as the Rust cases' round 0
			for i := 0; i < warm+b.reps(2000, 5); i++ {
				name := "i" + strconv.Itoa(i)
				t := time.Now()
				instance, err := inst(name)
				if err != nil {
					b.fail(c, err)
					xs = nil
					break
				}
				var took time.Duration
				if !timeClose {
					took = time.Since(t)
				}
				instance.Close(ctx)
				if timeClose {
					took = time.Since(t)
				}
				if i >= warm {
					xs = append(xs, ns(took))
				}
			}
			if xs != nil {
				r := statResult(c, xs, "us", 1e3)
				if note != "" {
					r["note"] = note
				}
				b.emit(r)
			}
			h.close()
		}
	}
}

// (7): timeout precision and cancellation latency.
func (b *bench) caseTimeouts() {
	if w, ok := b.rt.(wazeroRuntime); ok && !w.closeOnDone {
		why := "without WithCloseOnContextDone wazero cannot stop a running guest"
		b.na("timeout.overshoot", why)
		b.na("cancel.latency", why)
		return
	}
	ctx := context.Background()
	const deadline = 50 * time.Millisecond
	loop := b.read("testdata/infinite_loop.wasm")
	// 100 runs, so that p99 is not simply the worst run (max is reported too).
	runs := b.reps(100, 3)
	// A fresh module for every run: wazero closes the module whose context
	// ended (WithCloseOnContextDone), so it cannot be called again.
	measure := func(c string, cfg hostConfig, call func(m module) (time.Duration, error)) {
		h, err := b.rt.newHost(cfg)
		if err != nil {
			b.fail(c, err)
			return
		}
		defer h.close()
		var xs []float64
		for i := 0; i < runs; i++ {
			m, err := h.load(ctx, "loop"+strconv.Itoa(i), loop)
			if err != nil {
				b.fail(c, err)
				return
			}
			d, err := call(m)
			m.close(ctx)
			if err != nil {
				b.fail(c, err)
				return
			}
			xs = append(xs, ns(d))
		}
		res := statResult(c, xs, "us", 1e3)
		if c == "timeout.overshoot" {
			res["note"] = "elapsed - 50 ms exec timeout, infinite_loop"
		} else {
			res["note"] = "cancel() -> CallWithTimeout returns"
		}
		b.emit(res)
	}
	measure("timeout.overshoot", hostConfig{execTimeout: deadline}, func(m module) (time.Duration, error) {
		t := time.Now()
		_, err := m.call(ctx, "loop")
		took := time.Since(t)
		if err == nil || took < deadline {
			return 0, fmt.Errorf("infinite loop returned after %v: %v", took, err)
		}
		return took - deadline, nil
	})
	measure("cancel.latency", hostConfig{}, func(m module) (time.Duration, error) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var at time.Time
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(5 * time.Millisecond)
			at = time.Now()
			cancel()
		}()
		_, err := m.call(cctx, "loop")
		returned := time.Now()
		wg.Wait()
		if err == nil || returned.Before(at) {
			return 0, fmt.Errorf("infinite loop returned before the cancel: %v", err)
		}
		return returned.Sub(at), nil
	})
}

// (8): a wasm -> host function round trip.
func (b *bench) caseHostFn() {
	ctx := context.Background()
	h, m, err := b.loadOne(hostConfig{execTimeout: armedTimeout, hostInc: true}, "bench/testdata/hostcall.wasm")
	if err != nil {
		b.fail("hostfn.roundtrip", err)
		return
	}
	defer h.close()
	n := uint64(1_000_000)
	if b.smoke {
		n = 1000
	}
	var xs []float64
	for i := 0; i < b.reps(10, 2); i++ {
		t := time.Now()
		r, err := m.call(ctx, "run", n)
		xs = append(xs, ns(time.Since(t))/float64(n))
		if err != nil || r[0] != n {
			b.fail("hostfn.roundtrip", fmt.Errorf("%v %v", r, err))
			return
		}
	}
	b.emit(statResult("hostfn.roundtrip", xs, "ns", 1))
}

// (9): N goroutines, each with its own module.
func (b *bench) caseConcurrency() {
	ctx := context.Background()
	dur := 1500 * time.Millisecond
	if b.smoke {
		dur = 100 * time.Millisecond
	}
	procs := runtime.GOMAXPROCS(0)
	for _, n := range []struct {
		tag string
		g   int
	}{{"1", 1}, {"2", 2}, {"4xP", 4 * procs}} {
		c := "conc." + n.tag
		h, err := b.rt.newHost(hostConfig{execTimeout: armedTimeout})
		if err != nil {
			b.fail(c, err)
			continue
		}
		mods := make([]module, n.g)
		for i := range mods {
			if mods[i], err = h.load(ctx, "fib"+strconv.Itoa(i), b.read("testdata/fib.wasm")); err != nil {
				break
			}
		}
		if err != nil {
			h.close()
			b.fail(c, err)
			continue
		}
		var wg sync.WaitGroup
		lats := make([][]float64, n.g)
		rates := make([]float64, n.g)
		errs := make([]error, n.g)
		start := make(chan struct{})
		for i := range mods {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				t0 := time.Now()
				for time.Since(t0) < dur {
					t := time.Now()
					r, err := mods[i].call(ctx, "fib", 25)
					lats[i] = append(lats[i], ns(time.Since(t)))
					if err != nil || r[0] != 75025 {
						errs[i] = fmt.Errorf("fib(25) = %v, %v", r, err)
						return
					}
				}
				rates[i] = float64(len(lats[i])) / time.Since(t0).Seconds()
			}(i)
		}
		close(start)
		wg.Wait()
		h.close()
		var all []float64
		total := 0.0
		for i := range mods {
			if errs[i] != nil {
				err = errs[i]
			}
			all = append(all, lats[i]...)
			total += rates[i]
		}
		if err != nil {
			b.fail(c, err)
			continue
		}
		s := percentiles(all)
		b.emit(result{"case": c, "value": total, "unit": "calls/s", "p99": s.p99 / 1e6, "p99_unit": "ms",
			"threads": n.g, "note": "fib(25) per call, one module per goroutine"})
	}
}

func rssBytes() float64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return math.NaN()
	}
	f := strings.Fields(string(data))
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize())
}

// (10): RSS after loading 100 copies of a module, in a fresh process.
func (b *bench) caseRSS() {
	out, err := b.child("rss")
	if err != nil {
		b.fail("rss.100", err)
		return
	}
	var before, after float64
	if _, err := fmt.Sscan(out, &before, &after); err != nil {
		b.fail("rss.100", fmt.Errorf("child said %q", out))
		return
	}
	b.emit(result{"case": "rss.100", "value": (after - before) / (1 << 20), "unit": "MiB",
		"total": after / (1 << 20), "note": "lz77.wasm x100, each called once; RSS growth"})
}

func (b *bench) childRSS() {
	ctx := context.Background()
	h, err := b.rt.newHost(hostConfig{execTimeout: armedTimeout})
	if err != nil {
		panic(err)
	}
	bytes := b.read("testdata/programs/lz77.wasm")
	runtime.GC()
	before := rssBytes()
	var keep []module
	for i := 0; i < 100; i++ {
		m, err := h.load(ctx, "lz77-"+strconv.Itoa(i), bytes)
		if err != nil {
			panic(err)
		}
		if _, err := m.call(ctx, "run", 1); err != nil {
			panic(err)
		}
		keep = append(keep, m)
	}
	runtime.GC()
	after := rssBytes()
	fmt.Println(before, after)
	runtime.KeepAlive(keep)
}

func main() {
	name := flag.String("runtime", "", "sbx, wazero-close or wazero")
	smoke := flag.Bool("smoke", os.Getenv("BENCH_SMOKE") == "1", "a few iterations of each case, no timing value")
	root := flag.String("root", "..", "the repository root")
	outFile := flag.String("out", "", "write results here (default stdout)")
	only := flag.String("only", "", "run only this case group")
	child := flag.String("child", "", "internal: run a fresh-process case")
	list := flag.Bool("list", false, "list the runtimes built in")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile (go tool pprof) here")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			panic(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			panic(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *list {
		for _, r := range runtimes {
			fmt.Println(r.name())
		}
		return
	}
	var b *bench
	for _, r := range runtimes {
		if r.name() == *name {
			b = &bench{rt: r, smoke: *smoke, root: *root}
		}
	}
	if b == nil {
		fmt.Fprintf(os.Stderr, "gobench: unknown runtime %q (built in: see -list)\n", *name)
		os.Exit(2)
	}
	switch *child {
	case "diskload":
		b.childDiskload(flag.Arg(0))
		return
	case "rss":
		b.childRSS()
		return
	}
	groups := []struct {
		name string
		run  func()
	}{
		{"calls", b.caseCalls}, {"programs", b.casePrograms}, {"memory", b.caseMemory},
		{"loading", b.caseLoading}, {"instantiate", b.caseInstantiate}, {"timeouts", b.caseTimeouts},
		{"hostfn", b.caseHostFn}, {"concurrency", b.caseConcurrency}, {"rss", b.caseRSS},
		{"tenant", b.caseTenant},
	}
	for _, g := range groups {
		if *only != "" && *only != g.name {
			continue
		}
		t := time.Now()
		g.run()
		fmt.Fprintf(os.Stderr, "gobench %s: %s took %.1fs\n", *name, g.name, time.Since(t).Seconds())
	}
	w := os.Stdout
	if *outFile != "" {
		f, err := os.Create(*outFile)
		if err != nil {
			panic(err)
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	for _, r := range b.out {
		enc.Encode(r)
	}
}
