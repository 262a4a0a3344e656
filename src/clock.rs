//! Clocks: CLOCK_MONOTONIC for deadlines, and a cheaper tick counter for
//! timing calls in stats.
//!
//! A call is timed at both ends, so the stats' clock is on the call path:
//! a vDSO `clock_gettime` measured 27 ns on a quiet VM and 60-70 ns on a
//! busy one, against a few ns for the CPU's constant-rate counter (the TSC
//! on x86-64, CNTVCT on arm64). Ticks become nanoseconds only when stats
//! are read.

use std::sync::LazyLock;

/// CLOCK_MONOTONIC in nanoseconds (never 0). Read directly: `Instant`'s
/// arithmetic cost a fifth of the whole call path here.
pub(crate) fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64 + 1
}

/// The tick counter: monotonic and constant-rate where the CPU says so,
/// else [`now_ns`].
#[inline]
pub(crate) fn ticks() -> u64 {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        // SAFETY: RDTSC has no preconditions; the kernel reports the TSC
        // constant-rate (checked in `TickRate`) or ticks are not used.
        if TICKS_ARE_CPU.get().copied().unwrap_or(false) {
            return unsafe { core::arch::x86_64::_rdtsc() };
        }
        now_ns()
    }
    #[cfg(all(target_arch = "aarch64", not(miri)))]
    {
        let t: u64;
        // SAFETY: CNTVCT_EL0 is readable from user space on Linux and macOS.
        unsafe { core::arch::asm!("mrs {}, cntvct_el0", out(reg) t, options(nomem, nostack)) };
        t
    }
    #[cfg(any(miri, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
    {
        now_ns()
    }
}

/// Whether [`ticks`] reads the TSC; set once, before any tick is taken.
#[cfg(target_arch = "x86_64")]
static TICKS_ARE_CPU: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Fixes the tick source; called before the first call is timed (at host
/// creation), so that every tick of the process comes from one source.
pub(crate) fn init() {
    LazyLock::force(&RATE);
}

/// Nanoseconds per tick, from an anchor taken at [`init`] and refined at
/// every conversion.
struct TickRate {
    anchor_ticks: u64,
    anchor_ns: u64,
    /// Known exactly (arm64 gives its counter's frequency).
    exact_ns_per_tick: Option<f64>,
}

static RATE: LazyLock<TickRate> = LazyLock::new(|| {
    #[cfg(target_arch = "x86_64")]
    TICKS_ARE_CPU.get_or_init(tsc_is_constant_rate);
    #[cfg(all(target_arch = "aarch64", not(miri)))]
    let exact = {
        let freq: u64;
        // SAFETY: CNTFRQ_EL0 is readable from user space.
        unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) freq, options(nomem, nostack)) };
        (freq > 0).then(|| 1e9 / freq as f64)
    };
    #[cfg(not(all(target_arch = "aarch64", not(miri))))]
    let exact = None;
    TickRate {
        anchor_ticks: ticks(),
        anchor_ns: now_ns(),
        exact_ns_per_tick: exact,
    }
});

#[cfg(target_arch = "x86_64")]
fn tsc_is_constant_rate() -> bool {
    // Linux lists the flags that make the TSC a clock; elsewhere, use the clock.
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
        info.lines()
            .find(|l| l.starts_with("flags"))
            .is_some_and(|flags| {
                let has = |f: &str| flags.split_whitespace().any(|w| w == f);
                has("constant_tsc") && has("nonstop_tsc")
            })
    })
}

/// Converts a number of ticks into nanoseconds.
pub(crate) fn ticks_to_ns(n: u64) -> u64 {
    if n == 0 {
        return 0; // a module never called: no clock read for its stats
    }
    let rate = &*RATE;
    let per_tick = rate.exact_ns_per_tick.unwrap_or_else(|| {
        if ticks_are_ns() {
            return 1.0;
        }
        // Measured over the process's life so far, at least a millisecond.
        let mut now = (ticks(), now_ns());
        while now.1 - rate.anchor_ns < 1_000_000 {
            std::hint::spin_loop();
            now = (ticks(), now_ns());
        }
        (now.1 - rate.anchor_ns) as f64 / now.0.saturating_sub(rate.anchor_ticks).max(1) as f64
    });
    (n as f64 * per_tick) as u64
}

fn ticks_are_ns() -> bool {
    #[cfg(target_arch = "x86_64")]
    return !TICKS_ARE_CPU.get().copied().unwrap_or(false);
    #[cfg(not(target_arch = "x86_64"))]
    return cfg!(any(miri, not(target_arch = "aarch64")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_convert_to_the_monotonic_clock() {
        init();
        let (t0, n0) = (ticks(), now_ns());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (t1, n1) = (ticks(), now_ns());
        let measured = ticks_to_ns(t1 - t0) as f64;
        let real = (n1 - n0) as f64;
        assert!(
            (measured - real).abs() < real * 0.05,
            "{measured} ns by ticks, {real} ns by the clock"
        );
    }
}
