//! CPU time of this process: the one clock the workspace's benchmarks and timing tests read.

/// CPU time (user + system, all threads) of this process in nanoseconds, from
/// `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`: the clock behind Python's
/// `time.process_time_ns`. On a shared, loaded machine it does not count time spent waiting
/// for a core, so it is steadier than wall time. `None` where it is not available (this
/// implementation reads it on 64-bit Linux only).
pub fn process_cpu_ns() -> Option<u64> {
    imp::process_cpu_ns()
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod imp {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }

    unsafe extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }

    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;

    pub(super) fn process_cpu_ns() -> Option<u64> {
        let mut ts = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid clock id and a pointer to a live timespec laid out as on 64-bit
        // Linux (two i64 fields); the call writes only that struct.
        let rc = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
        (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    }
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
mod imp {
    pub(super) fn process_cpu_ns() -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_advances_with_work() {
        let Some(t0) = process_cpu_ns() else { return };
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
        std::hint::black_box(x);
        let t1 = process_cpu_ns().expect("the clock worked once");
        assert!(t1 > t0, "{t0} -> {t1}");
    }
}
