// Command table merges the JSON-lines results of gobench (sbx, wazero) and
// of the raw-Wasmtime floor (benches/floor.rs) into one Markdown table, one
// row per case, and checks sbx against the targets of docs/PERFORMANCE.md.
//
// Usage: table [-smoke] results.jsonl...
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
)

type result struct {
	Runtime  string   `json:"runtime"`
	Case     string   `json:"case"`
	Value    *float64 `json:"value"`
	Unit     string   `json:"unit"`
	P99      *float64 `json:"p99"`
	Max      *float64 `json:"max"`
	Min      *float64 `json:"min"`
	Allocs   *float64 `json:"allocs"`
	NA       string   `json:"na"`
	Error    string   `json:"error"`
	Note     string   `json:"note"`
	P99Unit  string   `json:"p99_unit"`
	Checksum string   `json:"checksum"`
}

var columns = []struct{ key, title string }{
	{"sbx", "sbx"},
	{"wazero-close", "wazero (close-on-ctx-done, D035)"},
	{"wazero", "wazero (without)"},
	{"raw", "raw Wasmtime"},
}

// The rows, in order. style: "op" (median ns/op + allocs), "dist" (median,
// p99), "tail" (p50/p99/max), "rate" (calls/s, p99 latency), "plain".
var rows = []struct{ key, label, style string }{
	{"call.add", "(1) `add` via CallWithTimeout, exec timeout set", "op"},
	{"call.add.cancelctx", "(1) `add`, through a cancellable ctx", "op"},
	{"call.add.untyped", "(1) `add`, untyped `Func::call` (raw only)", "op"},
	{"call.noop", "(2) `noop` call", "op"},
	{"prog.fib32", "(3) fib(32)", "dist"},
	{"prog.lz77", "(3) lz77: compress+decompress 256 KiB", "dist"},
	{"prog.sha256", "(3) sha256: 24 × SHA-256 of 64 KiB", "dist"},
	{"prog.sort", "(3) sort: quicksort+mergesort, 100k keys", "dist"},
	{"prog.json", "(3) json: generate+parse+write 8k records", "dist"},
	{"prog.vm", "(3) vm: bytecode interpreter (Collatz+fib)", "dist"},
	{"prog.geomean", "(3) **geometric mean of the 5 real programs** (medians)", "plain"},
	{"prog.geomean.best", "(3) geometric mean of each program's fastest run", "plain"},
	{"mem.hostio", "(4) host writes+reads 1 MiB of guest memory", "dist"},
	{"mem.guestcopy", "(4) guest copy loop, 64 × 1 MiB", "dist"},
	{"load.cold", "(5) cold compile+load, large.wasm (862 KB)", "dist"},
	{"load.memcache", "(5) second load of the same bytes (memory cache)", "dist"},
	{"load.diskcache", "(5) load from the on-disk cache, new process", "dist"},
	{"inst.pooling.add", "(6) fresh instance, pooling: add.wasm", "dist"},
	{"inst.pooling.lz77", "(6) fresh instance, pooling: lz77.wasm (memory)", "dist"},
	{"inst.ondemand.add", "(6) fresh instance, on-demand: add.wasm", "dist"},
	{"inst.ondemand.lz77", "(6) fresh instance, on-demand: lz77.wasm (memory)", "dist"},
	{"timeout.overshoot", "(7) overshoot past a 50 ms deadline (p50 / p99 / max)", "tail"},
	{"cancel.latency", "(7) cancel → call returns (p50 / p99 / max)", "tail"},
	{"hostfn.roundtrip", "(8) wasm → host function round trip", "dist"},
	{"conc.1", "(9) fib(25) throughput, 1 goroutine (p99 latency)", "rate"},
	{"conc.2", "(9) … 2 goroutines", "rate"},
	{"conc.4xP", "(9) … 4×GOMAXPROCS goroutines", "rate"},
	{"conc.scale2", "(9) scaling 2 vs 1 (ideal 2.0 on ≥ 2 cores)", "plain"},
	{"rss.100", "(10) RSS growth, 100 × lz77.wasm loaded", "plain"},
	{"tenant.inst.pooling.add", "(11) CompiledModule.Instantiate + Close, pooling: add.wasm", "dist"},
	{"tenant.inst.pooling.lz77", "(11) … pooling: lz77.wasm (memory)", "dist"},
	{"tenant.inst.ondemand.add", "(11) … on-demand: add.wasm", "dist"},
	{"tenant.inst.ondemand.lz77", "(11) … on-demand: lz77.wasm (memory)", "dist"},
	{"tenant.core.inst.pooling.add", "(11) core `CompiledModule::instantiate` + close, pooling: add.wasm", "dist"},
	{"tenant.core.inst.pooling.lz77", "(11) … pooling: lz77.wasm (memory)", "dist"},
	{"tenant.core.inst.ondemand.add", "(11) … on-demand: add.wasm", "dist"},
	{"tenant.core.inst.ondemand.lz77", "(11) … on-demand: lz77.wasm (memory)", "dist"},
	{"tenant.core.load.pooling.add", "(11) core `Host::load` of cached bytes + close, pooling: add.wasm", "dist"},
	{"tenant.core.load.pooling.lz77", "(11) … pooling: lz77.wasm (memory)", "dist"},
	{"tenant.core.load.ondemand.add", "(11) … on-demand: add.wasm", "dist"},
	{"tenant.core.load.ondemand.lz77", "(11) … on-demand: lz77.wasm (memory)", "dist"},
	{"tenant.core.reset.pooling.64k", "(11) core `Module::reset` after touching 64 KiB, pooling", "dist"},
	{"tenant.core.reset.pooling.1m", "(11) … 1 MiB, pooling", "dist"},
	{"tenant.core.reset.pooling.16m", "(11) … 16 MiB, pooling", "dist"},
	{"tenant.core.reset.ondemand.64k", "(11) … 64 KiB, on-demand", "dist"},
	{"tenant.core.reset.ondemand.1m", "(11) … 1 MiB, on-demand", "dist"},
	{"tenant.core.reset.ondemand.16m", "(11) … 16 MiB, on-demand", "dist"},
	{"tenant.core.call.add", "(11) core `Module::call(add)`, stats on", "op"},
	{"tenant.rps.1", "(11) fresh instance per request, json run(10), 1 goroutine", "rate"},
	{"tenant.rps.P", "(11) … GOMAXPROCS goroutines", "rate"},
	{"tenant.pool.1", "(11) pool of 1, 1 goroutine, json run(10)", "rate"},
	{"tenant.pool.P", "(11) pool of GOMAXPROCS, GOMAXPROCS goroutines", "rate"},
	{"tenant.pool.Psplit", "(11) GOMAXPROCS goroutines, each its own pool of 1 (the machine's ceiling)", "rate"},
	{"tenant.pool.scale", "(11) pool scaling, GOMAXPROCS vs 1 (ideal: cores)", "plain"},
	{"tenant.pool.splitscale", "(11) the same without sharing a pool", "plain"},
}

var realPrograms = []string{"lz77", "sha256", "sort", "json", "vm"}

func main() {
	smoke := flag.Bool("smoke", false, "results are from a smoke run: say so, skip target checks")
	flag.Parse()
	res := map[string]map[string]result{} // case -> runtime -> result
	for _, path := range flag.Args() {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var r result
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v: %s\n", path, err, line)
				continue
			}
			if res[r.Case] == nil {
				res[r.Case] = map[string]result{}
			}
			res[r.Case][r.Runtime] = r
		}
		f.Close()
	}
	derive(res)

	var b strings.Builder
	if *smoke {
		b.WriteString("_Smoke run: a few iterations per case; the numbers are not measurements._\n\n")
	}
	b.WriteString("| case | sbx | wazero (close-on-ctx-done, D035) | wazero (without) | raw Wasmtime | sbx/wazero | sbx/raw |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	var notes []string
	noteIndex := map[string]int{}
	footnote := func(s string) string {
		i, ok := noteIndex[s]
		if !ok {
			notes = append(notes, s)
			i = len(notes)
			noteIndex[s] = i
		}
		return fmt.Sprintf("[^%d]", i)
	}
	for _, row := range rows {
		byRT := res[row.key]
		if byRT == nil {
			continue
		}
		cells := []string{row.label}
		for _, c := range columns {
			r, ok := byRT[c.key]
			switch {
			case !ok:
				cells = append(cells, "–")
			case r.Error != "":
				cells = append(cells, "error "+footnote(c.key+": "+r.Error))
			case r.Value == nil:
				why := r.NA
				if why == "" {
					why = "not measured"
				}
				cells = append(cells, "n/a "+footnote(why))
			default:
				cells = append(cells, cell(row.style, r))
			}
		}
		cells = append(cells, ratio(byRT, "sbx", "wazero-close", row.key), ratio(byRT, "sbx", "raw", row.key))
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	b.WriteString("\nRatios are sbx's value over the peer's (for times: < 1 means sbx is faster; for throughput: > 1 means sbx is faster). sbx/wazero uses the D035 configuration.\n")
	if len(notes) > 0 {
		b.WriteString("\n")
		for i, n := range notes {
			fmt.Fprintf(&b, "[^%d]: %s\n", i+1, n)
		}
	}
	if !*smoke {
		b.WriteString("\n" + targets(res))
	}
	fmt.Print(b.String())
}

func val(m map[string]result, rt string) (float64, bool) {
	r, ok := m[rt]
	if !ok || r.Value == nil || r.Error != "" {
		return 0, false
	}
	return *r.Value, true
}

// derive adds the rows computed from others: the geometric mean of the real
// programs and the 2-vs-1 concurrency scaling.
func derive(res map[string]map[string]result) {
	for _, c := range columns {
		prod, n := 1.0, 0
		for _, p := range realPrograms {
			if v, ok := val(res["prog."+p], c.key); ok && v > 0 {
				prod *= v
				n++
			}
		}
		if n == len(realPrograms) {
			g := math.Pow(prod, 1/float64(n))
			put(res, "prog.geomean", c.key, g, "ms")
		}
		// Contention only ever slows a CPU-bound run down, so on a busy
		// machine the fastest of N runs is the steadier estimate.
		prod, n = 1.0, 0
		for _, p := range realPrograms {
			if r, ok := res["prog."+p][c.key]; ok && r.Min != nil && r.Error == "" {
				prod *= *r.Min
				n++
			}
		}
		if n == len(realPrograms) {
			put(res, "prog.geomean.best", c.key, math.Pow(prod, 1/float64(n)), "ms")
		}
		one, ok1 := val(res["conc.1"], c.key)
		two, ok2 := val(res["conc.2"], c.key)
		if ok1 && ok2 && one > 0 {
			put(res, "conc.scale2", c.key, two/one, "×")
		}
		one, ok1 = val(res["tenant.pool.1"], c.key)
		all, ok2 := val(res["tenant.pool.P"], c.key)
		if ok1 && ok2 && one > 0 {
			put(res, "tenant.pool.scale", c.key, all/one, "×")
		}
		split, ok2 := val(res["tenant.pool.Psplit"], c.key)
		if ok1 && ok2 && one > 0 {
			put(res, "tenant.pool.splitscale", c.key, split/one, "×")
		}
	}
	// benches/tenant.rs measures raw Wasmtime's fresh instance once; it is
	// the floor of the Go instantiate and of the core's load too.
	for _, kind := range []string{"pooling.add", "pooling.lz77", "ondemand.add", "ondemand.lz77"} {
		if r, ok := res["tenant.core.inst."+kind]["raw"]; ok {
			for _, c := range []string{"tenant.inst.", "tenant.core.load."} {
				if res[c+kind] != nil {
					res[c+kind]["raw"] = r
				}
			}
		}
	}
}

func put(res map[string]map[string]result, c, rt string, v float64, unit string) {
	if res[c] == nil {
		res[c] = map[string]result{}
	}
	res[c][rt] = result{Runtime: rt, Case: c, Value: &v, Unit: unit}
}

// human prints a value with 3 significant digits and its unit, moving
// between ns/µs/ms where that reads better.
func human(v float64, unit string) string {
	scale := map[string]float64{"ns": 1, "us": 1e3, "ms": 1e6}
	if s, ok := scale[unit]; ok {
		nsv := v * s
		switch {
		case math.Abs(nsv) >= 1e6:
			return sig(nsv/1e6) + " ms"
		case math.Abs(nsv) >= 1e3:
			return sig(nsv/1e3) + " µs"
		default:
			return sig(nsv) + " ns"
		}
	}
	if unit == "calls/s" {
		return fmt.Sprintf("%s/s", thousands(v))
	}
	if unit == "×" {
		return fmt.Sprintf("%.2f×", v)
	}
	return sig(v) + " " + unit
}

func sig(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return thousands(v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", math.Abs(v))
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if v < 0 {
		return "-" + string(out)
	}
	return string(out)
}

func cell(style string, r result) string {
	v := *r.Value
	switch style {
	case "op":
		s := human(v, r.Unit)
		if r.Allocs != nil {
			s += fmt.Sprintf(", %.0f allocs", *r.Allocs)
		}
		return s
	case "dist":
		s := human(v, r.Unit)
		if r.P99 != nil {
			s += " (p99 " + human(*r.P99, r.Unit) + ")"
		}
		return s
	case "tail":
		s := human(v, r.Unit)
		if r.P99 != nil {
			s += " / " + human(*r.P99, r.Unit)
		}
		if r.Max != nil {
			s += " / " + human(*r.Max, r.Unit)
		}
		return s
	case "rate":
		s := human(v, r.Unit)
		if r.P99 != nil {
			s += " (p99 " + human(*r.P99, r.P99Unit) + ")"
		}
		return s
	}
	return human(v, r.Unit)
}

func ratio(m map[string]result, a, b, c string) string {
	x, ok1 := val(m, a)
	y, ok2 := val(m, b)
	if !ok1 || !ok2 || y == 0 || c == "call.add.untyped" {
		return "–"
	}
	// Negative overshoots (returning before the deadline) make no ratio.
	if x < 0 || y < 0 {
		return "–"
	}
	r := x / y
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

// targets checks sbx against docs/PERFORMANCE.md.
func targets(res map[string]map[string]result) string {
	var b strings.Builder
	b.WriteString("Targets (docs/PERFORMANCE.md), checked against this run:\n\n")
	check := func(ok bool, known bool, what string) {
		mark := "MISS"
		if !known {
			mark = "n/a "
		} else if ok {
			mark = "ok  "
		}
		fmt.Fprintf(&b, "- %s %s\n", mark, what)
	}
	add, okAdd := val(res["call.add"], "sbx")
	wz, okWz := val(res["call.add"], "wazero-close")
	allocs := math.NaN()
	if r, ok := res["call.add"]["sbx"]; ok && r.Allocs != nil {
		allocs = *r.Allocs
	}
	check(okAdd && add <= 100 && allocs <= 1, okAdd,
		fmt.Sprintf("CallWithTimeout(add) ≤ 100 ns and ≤ 1 alloc: %s, %.0f allocs", human(add, "ns"), allocs))
	check(okAdd && okWz && wz/add >= 10, okAdd && okWz,
		fmt.Sprintf("≥ 10× faster than wazero on the same API path: %.1f×", wz/add))
	g, okG := val(res["prog.geomean"], "sbx")
	gr, okR := val(res["prog.geomean"], "raw")
	gw, okW := val(res["prog.geomean"], "wazero-close")
	check(okG && okR && g <= gr*1.05, okG && okR,
		fmt.Sprintf("compute within 5%% of raw Wasmtime (geomean of medians): %+.1f%%", (g/gr-1)*100))
	gb, okGB := val(res["prog.geomean.best"], "sbx")
	grb, okRB := val(res["prog.geomean.best"], "raw")
	check(okGB && okRB && gb <= grb*1.05, okGB && okRB,
		fmt.Sprintf("compute within 5%% of raw Wasmtime (geomean of fastest runs): %+.1f%%", (gb/grb-1)*100))
	check(okG && okW && gw/g >= 5, okG && okW,
		fmt.Sprintf("compute ≥ 5× faster than wazero D035 (geomean): %.1f×", gw/g))
	if r, ok := res["timeout.overshoot"]["sbx"]; ok && r.P99 != nil {
		check(*r.P99 <= 250, true, fmt.Sprintf("timeout overshoot p99 ≤ 250 µs: %s", human(*r.P99, r.Unit)))
	} else {
		check(false, false, "timeout overshoot p99 ≤ 250 µs")
	}
	if r, ok := res["cancel.latency"]["sbx"]; ok && r.P99 != nil {
		check(*r.P99 <= 250, true, fmt.Sprintf("cancel → return p99 ≤ 250 µs: %s", human(*r.P99, r.Unit)))
	} else {
		check(false, false, "cancel → return p99 ≤ 250 µs")
	}
	worst, known := 0.0, false
	for _, c := range []string{"inst.pooling.add", "inst.pooling.lz77", "inst.ondemand.add", "inst.ondemand.lz77"} {
		if v, ok := val(res[c], "sbx"); ok {
			worst, known = math.Max(worst, v), true
		}
	}
	check(known && worst <= 10, known, fmt.Sprintf("fresh instance ≤ 10 µs (worst of the four rows): %s", human(worst, "us")))
	cold, ok1 := val(res["load.cold"], "sbx")
	for _, c := range []string{"load.memcache", "load.diskcache"} {
		v, ok2 := val(res[c], "sbx")
		check(ok1 && ok2 && v <= 1 && cold/v >= 100, ok1 && ok2,
			fmt.Sprintf("%s of the 862 KB module ≤ 1 ms and ≥ 100× faster than compiling: %s, %.0f×", c, human(v, "ms"), cold/v))
	}
	if v, ok := val(res["hostfn.roundtrip"], "sbx"); ok {
		check(v <= 150, true, fmt.Sprintf("host function round trip ≤ 150 ns: %s", human(v, "ns")))
	} else {
		check(false, false, "host function round trip ≤ 150 ns (not measured)")
	}
	if s, ok := val(res["conc.scale2"], "sbx"); ok {
		check(s >= 1.6, true, fmt.Sprintf("2 goroutines on 2 modules ≥ 0.8·2 = 1.6× the throughput of 1: %.2f×", s))
	}
	b.WriteString(tenantTargets(res))
	keys := make([]string, 0)
	for k := range res {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	_ = keys
	return b.String()
}

// tenantTargets checks issue 11's targets.
func tenantTargets(res map[string]map[string]result) string {
	var b strings.Builder
	check := func(ok bool, known bool, what string) {
		mark := "MISS"
		if !known {
			mark = "n/a "
		} else if ok {
			mark = "ok  "
		}
		fmt.Fprintf(&b, "- %s %s\n", mark, what)
	}
	ratioOf := func(c, a, peer string) (float64, bool) {
		x, ok1 := val(res[c], a)
		y, ok2 := val(res[c], peer)
		return x / y, ok1 && ok2 && y > 0
	}
	for _, c := range []string{"tenant.inst.pooling.add", "tenant.inst.pooling.lz77", "tenant.core.inst.pooling.add", "tenant.core.inst.pooling.lz77"} {
		r, ok := ratioOf(c, "sbx", "raw")
		check(ok && r <= 2, ok, fmt.Sprintf("%s ≤ 2× raw Store::new + instantiate + drop: %.2f×", c, r))
	}
	for _, k := range []string{"pooling", "ondemand"} {
		for _, t := range []string{"64k", "1m", "16m"} {
			c := "tenant.core.reset." + k + "." + t
			r, ok := ratioOf(c, "sbx", "raw")
			check(ok && r <= 1.5, ok, fmt.Sprintf("%s ≤ 1.5× raw re-instantiation: %.2f×", c, r))
		}
	}
	for _, c := range []string{"tenant.rps.1", "tenant.rps.P"} {
		r, ok := ratioOf(c, "sbx", "wazero-close")
		check(ok && r >= 10, ok, fmt.Sprintf("%s ≥ 10× wazero (instantiate per request): %.1f×", c, r))
	}
	// gobench ran on this machine with the default GOMAXPROCS.
	procs := float64(runtime.GOMAXPROCS(0))
	g, ok := val(res["tenant.pool.scale"], "sbx")
	split, _ := val(res["tenant.pool.splitscale"], "sbx")
	check(ok && g >= 0.8*procs, ok, fmt.Sprintf("pool of GOMAXPROCS ≥ 0.8 × %.0f × one instance: %.2f× (unshared pools on this machine: %.2f×)", procs, g, split))
	return b.String()
}
