package wasm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Pool serves concurrent calls to one compiled module with up to size
// instances, each running one call at a time. It lives in Go, built on the
// library's primitives (CompiledModule.Instantiate, Module.CallWithTimeout
// and the reset policies); the C API has no pool. It is safe for
// concurrent use.
type Pool struct {
	cm    *compiledModule // kept open (a user of it) until Close
	opts  []LoadOption
	id    uint64
	slots chan struct{} // a token per call holding or making an instance

	closing     context.Context // done once Close starts
	stopClosing context.CancelFunc
	waiting     atomic.Int64

	// mu guards the fields below.
	mu      sync.Mutex
	closed  bool
	idle    []*Module
	all     map[*Module]struct{} // every instance not yet closed
	seq     uint64
	making  int       // instances being made
	made    sync.Cond // signalled as making drops
	retired ModuleStats
}

// PoolStats is what a pool holds now (Pool.Stats).
type PoolStats struct {
	// Instances are the instances made and not closed, at most the size;
	// Idle of them wait for a call; Waiting callers wait for an instance.
	Instances, Idle, Waiting int
	// Modules sums the ModuleStats of every instance the pool has made,
	// closed ones included (MemoryBytes and MemoryPeakBytes: live ones).
	Modules ModuleStats
}

var poolIDs atomic.Uint64

// NewPool makes a pool of at most size instances of the compiled module,
// made lazily, as calls need them, with opts (as Instantiate takes them).
// An instance whose call failed is reset before its next call: the pool
// adds WithResetAfterFailure unless opts has WithResetAfterEachCall.
//
// Every instance gets the same opts: the io.Writers of a WASIConfig given
// with WithModuleWASI receive the output of several instances running at
// once, so they must be safe for concurrent use (each write is one guest
// write; writes to one writer never overlap). Its Stdin is read once, here,
// and each instance reads its own copy.
//
// Closing the pool closes its instances; closing c does not stop the pool,
// which keeps the compiled code until it is closed.
func (c *CompiledModule) NewPool(size int, opts ...LoadOption) (*Pool, error) {
	const op = "new pool"
	if size < 1 {
		return nil, &Error{Op: op, Msg: fmt.Sprintf("size %d: must be at least 1", size), kind: ErrInvalidArgument}
	}
	var lc loadConfig
	for _, opt := range opts {
		if opt != nil {
			opt(&lc)
		}
	}
	if lc.err != nil {
		return nil, &Error{Op: op, Msg: lc.err.Error(), kind: ErrInvalidOption}
	}
	if lc.wasi != nil {
		if err := lc.wasi.validate(); err != nil {
			return nil, &Error{Op: op, Msg: "WithModuleWASI: " + err.Error(), kind: ErrInvalidOption}
		}
	}
	all := append([]LoadOption{WithResetAfterFailure()}, opts...)
	if lc.wasi != nil && lc.wasi.Stdin != nil {
		stdin, err := io.ReadAll(lc.wasi.Stdin)
		if err != nil {
			return nil, &Error{Op: op, Msg: "WithModuleWASI: reading WASIConfig.Stdin: " + err.Error(), kind: ErrInvalidOption}
		}
		all = append(all, func(l *loadConfig) {
			if l.wasi != nil {
				w := *l.wasi
				w.Stdin = bytes.NewReader(stdin)
				l.wasi = &w
			}
		})
	}
	cm := c.c
	if !cm.acquire() {
		return nil, closedError(op, "compiled module")
	}
	p := &Pool{
		cm:    cm,
		opts:  all,
		id:    poolIDs.Add(1),
		slots: make(chan struct{}, size),
		all:   make(map[*Module]struct{}),
	}
	p.made.L = &p.mu
	p.closing, p.stopClosing = context.WithCancel(context.Background())
	h := cm.host
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		cm.release()
		return nil, closedError(op, "host")
	}
	if h.mt.pools == nil {
		h.mt.pools = make(map[*Pool]struct{})
	}
	h.mt.pools[p] = struct{}{}
	h.mu.Unlock()
	return p, nil
}

// CallWithTimeout calls fnName on an idle instance, or on a new one if
// the pool has fewer than its size, or else waits for one. It fails as
// Module.CallWithTimeout does (ctx bounds the call, and making an instance
// as Instantiate does); a caller waiting for an instance gives up when ctx
// ends, with an error wrapping ctx.Err() and ErrTimeout (a deadline) or
// ErrInterrupted, and when the pool closes, with ErrClosed. A call in
// flight when the pool closes fails with ErrClosed.
func (p *Pool) CallWithTimeout(ctx context.Context, fnName string, params ...uint64) ([]uint64, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(p.callOp(fnName), "the call did not start", ctx, err)
	}
	select {
	case p.slots <- struct{}{}:
	default:
		p.waiting.Add(1)
		select {
		case p.slots <- struct{}{}:
			p.waiting.Add(-1)
		case <-ctx.Done():
			p.waiting.Add(-1)
			return nil, ctxError(p.callOp(fnName), "gave up waiting for an instance", ctx, ctx.Err())
		case <-p.closing.Done():
			p.waiting.Add(-1)
			return nil, closedError(p.callOp(fnName), "pool")
		}
	}
	defer func() { <-p.slots }()
	m, err := p.get(ctx, fnName)
	if err != nil {
		return nil, err
	}
	results, err := m.CallWithTimeout(ctx, fnName, params...)
	p.put(m, err)
	return results, err
}

// get takes an idle instance or makes one; the caller holds a slot, so
// with none idle there are fewer than size.
func (p *Pool) get(ctx context.Context, fnName string) (*Module, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, closedError(p.callOp(fnName), "pool")
	}
	if n := len(p.idle); n > 0 {
		m := p.idle[n-1] // the most recently used: its memory is warm
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return m, nil
	}
	p.making++
	p.seq++
	name := fmt.Sprintf("pool%d-%d", p.id, p.seq)
	p.mu.Unlock()

	// Close stops the start function of an instance being made.
	mctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.closing, cancel)
	m, err := p.cm.host.load(mctx, "instantiate module", name, nil, p.cm, p.opts)
	stop()
	cancel()

	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.made.Broadcast()
	p.making--
	if p.closed {
		if m != nil {
			m.Close(context.Background())
			p.retired.add(m.Stats())
		}
		return nil, closedError(p.callOp(fnName), "pool")
	}
	if err != nil {
		return nil, err
	}
	p.all[m] = struct{}{}
	return m, nil
}

// put gives m back after a call that returned err; an instance the call
// left closed (a failed reset closes it) is dropped.
func (p *Pool) put(m *Module, err error) {
	if err != nil && !m.closed.Load() {
		if m.lock() {
			if m.libraryClosed() {
				m.closeAfterLibrary()
			}
			m.lk.unlock()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.all[m]; !ok {
		return // Close took it
	}
	if m.closed.Load() {
		delete(p.all, m)
		m.Close(context.Background())
		p.retired.add(m.Stats())
		return
	}
	p.idle = append(p.idle, m)
}

// Stats reads the pool's counters and its instances' (one cgo call each),
// taking no lock a running call holds.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	ms := make([]*Module, 0, len(p.all))
	for m := range p.all {
		ms = append(ms, m)
	}
	st := PoolStats{Instances: len(p.all), Idle: len(p.idle), Modules: p.retired}
	p.mu.Unlock()
	for _, m := range ms {
		s := m.Stats()
		st.Modules.add(s)
		st.Modules.MemoryBytes += s.MemoryBytes
		st.Modules.MemoryPeakBytes += s.MemoryPeakBytes
	}
	st.Waiting = int(p.waiting.Load())
	return st
}

// Close interrupts the calls in flight (they fail with ErrClosed), closes
// every instance and wakes the callers waiting (ErrClosed); later calls
// fail with ErrClosed. Closing twice is a no-op. It must not be called from
// a host function of an instance being made.
func (p *Pool) Close() error { return p.close(true) }

// close is Close; Host.Close, which holds the host's rw, passes false: an
// instance being made may wait for rw, and fails with ErrClosed once it
// has it.
func (p *Pool) close(waitMaking bool) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.stopClosing()
	ms := make([]*Module, 0, len(p.all))
	for m := range p.all {
		ms = append(ms, m)
	}
	p.mu.Unlock()
	for _, m := range ms {
		m.Close(context.Background()) // interrupts its call and waits for it
	}
	p.mu.Lock()
	for m := range p.all { // those put did not drop meanwhile
		p.retired.add(m.Stats())
	}
	p.all, p.idle = map[*Module]struct{}{}, nil
	for waitMaking && p.making > 0 {
		p.made.Wait()
	}
	p.mu.Unlock()
	p.cm.release()
	h := p.cm.host
	h.mu.Lock()
	delete(h.mt.pools, p)
	h.mu.Unlock()
	return nil
}

// add sums the counters of s into st (not the memory, which is current).
func (st *ModuleStats) add(s ModuleStats) {
	st.Calls += s.Calls
	st.Timeouts += s.Timeouts
	st.Interrupts += s.Interrupts
	st.FuelExhausted += s.FuelExhausted
	st.Traps += s.Traps
	st.HostErrors += s.HostErrors
	st.Exits += s.Exits
	st.Resets += s.Resets
	st.CallTime += s.CallTime
	st.FuelConsumed += s.FuelConsumed
}

func (p *Pool) callOp(fnName string) string {
	return fmt.Sprintf("call %q on pool %d", fnName, p.id)
}
