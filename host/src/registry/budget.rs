//! The CPU time one request's pattern matching may spend ([`Budget`]),
//! read from the checking thread's own clock, so that time the thread is
//! not running does not count; and the bytes of failing values its errors
//! may quote. A run is per thread and synchronous: nothing of it outlives
//! [`Budget::run`], not even through a panic.

use std::cell::Cell;
use std::time::Duration;

/// The most bytes of failing values one run's errors may quote: the
/// validator keeps a copy of the value with each error of a custom keyword,
/// and `anyOf` keeps every branch's.
const MAX_ERROR_BYTES: usize = 8 << 20;

/// The CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given, nothing else.
    let done = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if done != 0 {
        return Duration::MAX;
    }
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// The matching one request's check may do: CPU time on the thread that
/// checks it ([`Budget::run`]). A match outside a run is a run of its own
/// with [`Budget::DEFAULT`], and a value it cannot finish counts as not
/// matching.
pub struct Budget;

/// A run's state: when (on the thread's CPU clock) its budget is spent, and
/// whether some match ran out of it.
#[derive(Clone, Copy)]
struct Run {
    until: Duration,
    exhausted: bool,
    /// Bytes of failing values its errors quote.
    quoted: usize,
}

thread_local! {
    static RUN: Cell<Option<Run>> = const { Cell::new(None) };
}

/// Puts back the run that was on when a run ends, even by a panic.
struct Restore(Option<Run>);

impl Drop for Restore {
    fn drop(&mut self) {
        RUN.with(|run| run.set(self.0));
    }
}

impl Budget {
    /// The CPU time a request's checks may spend matching patterns, off
    /// the request threads.
    pub const DEFAULT: Duration = Duration::from_millis(100);

    /// Runs `check` with `limit` of CPU time for matching; its result, and
    /// whether the budget ran out (then some values went unchecked, and the
    /// result must not be trusted).
    pub fn run<T>(limit: Duration, check: impl FnOnce() -> T) -> (T, bool) {
        let run = Run {
            until: thread_cpu().saturating_add(limit),
            exhausted: false,
            quoted: 0,
        };
        let restore = Restore(RUN.with(|cell| cell.replace(Some(run))));
        let result = check();
        let exhausted = RUN.with(|cell| cell.get().is_some_and(|run| run.exhausted));
        drop(restore);
        (result, exhausted)
    }

    /// Whether the run's budget is spent (and if so, says so for the run).
    pub(super) fn spent() -> bool {
        RUN.with(|cell| match cell.get() {
            Some(mut run) => {
                if !run.exhausted && thread_cpu() > run.until {
                    run.exhausted = true;
                    cell.set(Some(run));
                }
                run.exhausted
            }
            None => false,
        })
    }

    /// Counts `bytes` of a failing value an error will quote; past
    /// [`MAX_ERROR_BYTES`] in a run, the run is spent (false).
    pub(super) fn quote(bytes: usize) -> bool {
        RUN.with(|cell| match cell.get() {
            Some(mut run) => {
                run.quoted = run.quoted.saturating_add(bytes);
                if run.quoted > MAX_ERROR_BYTES {
                    run.exhausted = true;
                }
                cell.set(Some(run));
                !run.exhausted
            }
            None => true,
        })
    }

    /// Whether a run is on and its budget is spent.
    pub(super) fn exhausted() -> bool {
        RUN.with(|cell| cell.get().is_some_and(|run| run.exhausted))
    }

    /// Whether a run is on.
    pub(super) fn running() -> bool {
        RUN.with(|cell| cell.get().is_some())
    }
}
