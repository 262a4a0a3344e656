package wasm

import (
	"sync"
	"sync/atomic"
	"time"
)

// callLock is a module's lock, held by each call for its whole length.
// Unlike a sync.Mutex, a waiter can give up (when its ctx ends or the module
// closes), so that a call stuck in a host function cannot hang every later
// caller. It works like a sync.Mutex otherwise: uncontended, lock and
// unlock are one compare-and-swap each; a released lock goes to whoever
// takes it first, which keeps it busy under contention; and a waiter that
// has waited longer than starvation is handed the lock directly, so that a
// goroutine calling in a loop cannot starve the others.
type callLock struct {
	state   atomic.Int32 // unlocked, locked, handoff or handedOff
	waiters atomic.Int32 // goroutines waiting for wake

	once     sync.Once
	wake     chan struct{} // one slot: the lock was released
	starving atomic.Bool   // a waiter waits for a hand-off (one at a time)
	handed   chan struct{} // one slot: the lock, handed to that waiter
}

const (
	unlocked  int32 = iota
	locked          // held
	handoff         // held; its unlock hands it to the starving waiter
	handedOff       // the starving waiter's, on its way to it
)

// starvation is how long a waiter competes for the lock before it asks for
// a hand-off, as sync.Mutex does.
const starvation = time.Millisecond

// tryLock takes the lock if it is free, as the fast path of every lock.
func (l *callLock) tryLock() bool { return l.state.CompareAndSwap(unlocked, locked) }

// lock takes the lock, waiting as long as it takes.
func (l *callLock) lock() {
	if !l.tryLock() {
		l.lockSlow(nil, nil)
	}
}

// unlock releases the lock, waking a waiter if there is one.
func (l *callLock) unlock() {
	if released := l.state.CompareAndSwap(locked, unlocked); !released || l.waiters.Load() > 0 {
		l.unlockSlow(released)
	}
}

// unlockSlow wakes a waiter once the lock is released, or else hands it
// to the starving waiter that asked for it.
func (l *callLock) unlockSlow(released bool) {
	if released {
		l.signal()
		return
	}
	for {
		if l.state.CompareAndSwap(handoff, handedOff) {
			l.handed <- struct{}{}
			return
		}
		if l.state.CompareAndSwap(locked, unlocked) { // the starving waiter gave up
			if l.waiters.Load() > 0 {
				l.signal()
			}
			return
		}
	}
}

func (l *callLock) signal() {
	select {
	case l.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// lockSlow waits for the lock, or gives up and returns false when stop or
// closing is closed first (nil channels never are).
func (l *callLock) lockSlow(stop, closing <-chan struct{}) bool {
	l.once.Do(func() {
		l.wake, l.handed = make(chan struct{}, 1), make(chan struct{}, 1)
	})
	// Counted before trying: an unlock either sees this waiter or comes
	// before its try, which then succeeds (or loses to a goroutine whose
	// unlock will see it).
	l.waiters.Add(1)
	var since time.Time
	for {
		if l.tryLock() {
			l.waiters.Add(-1)
			return true
		}
		if since.IsZero() {
			since = time.Now()
		} else if time.Since(since) >= starvation && l.starving.CompareAndSwap(false, true) {
			l.waiters.Add(-1)
			return l.lockHandedOff(stop, closing)
		}
		select {
		case <-l.wake:
		case <-stop:
			l.waiters.Add(-1)
			return false
		case <-closing:
			l.waiters.Add(-1)
			return false
		}
	}
}

// lockHandedOff waits for the holder to hand the lock over; l.starving is
// this goroutine's.
func (l *callLock) lockHandedOff(stop, closing <-chan struct{}) bool {
	defer l.starving.Store(false)
	for {
		if l.tryLock() {
			return true
		}
		if l.state.CompareAndSwap(locked, handoff) {
			break
		}
	}
	select {
	case <-l.handed:
		l.state.Store(locked)
		return true
	case <-stop:
	case <-closing:
	}
	if l.state.CompareAndSwap(handoff, locked) {
		return false // withdrawn before the holder's unlock
	}
	<-l.handed // handed over meanwhile: pass it on
	l.state.Store(locked)
	l.unlock()
	return false
}
