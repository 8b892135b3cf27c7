//! A sliding window of a version's answers: counts of requests, 5xx and
//! 504, and a latency histogram precise enough for a p99, kept in
//! [`SLOTS`] rotating slots, so recording is O(1) and the window slides by a
//! tenth of its length.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Slots per window.
const SLOTS: usize = 10;
/// Latency buckets: four per doubling from 250 µs, up to about 4 minutes.
pub const BUCKETS: usize = 80;
const FIRST_BOUND_SECS: f64 = 0.000_25;

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Which slot of time it holds (elapsed ÷ slot width).
    index: u64,
    requests: u32,
    errors: u32,
    timeouts: u32,
    latency: [u32; BUCKETS],
}

impl Slot {
    const EMPTY: Slot = Slot {
        index: u64::MAX,
        requests: 0,
        errors: 0,
        timeouts: 0,
        latency: [0; BUCKETS],
    };
}

/// What a version answered over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    pub requests: u32,
    /// Answers with a 5xx status (504s included).
    pub errors: u32,
    /// Answers with status 504: the version ran past its deadline.
    pub timeouts: u32,
    /// The median latency, to the upper bound of its bucket.
    #[serde(serialize_with = "as_millis")]
    pub p50: Option<Duration>,
    /// The 99th percentile latency, to the upper bound of its bucket (at
    /// most 19% above the true value); `None` with no requests.
    #[serde(serialize_with = "as_millis")]
    pub p99: Option<Duration>,
    /// How many answers fell in each latency bucket.
    #[serde(skip)]
    pub latency: Latency,
}

/// Answers per latency bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency(pub [u32; BUCKETS]);

impl Default for Latency {
    fn default() -> Latency {
        Latency([0; BUCKETS])
    }
}

impl Stats {
    /// How many answers surely took longer than `threshold`: those of the
    /// buckets whose lower bound is at least it.
    pub fn slower_than(&self, threshold: Duration) -> u32 {
        self.latency
            .0
            .iter()
            .enumerate()
            .filter(|(i, _)| *i > 0 && upper_bound(i - 1) >= threshold)
            .map(|(_, n)| *n)
            .fold(0u32, u32::saturating_add)
    }

    pub fn error_rate(&self) -> f64 {
        ratio(self.errors, self.requests)
    }

    pub fn timeout_rate(&self) -> f64 {
        ratio(self.timeouts, self.requests)
    }
}

/// `part` of `whole`, 0 when there is no whole.
pub fn ratio(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

fn as_millis<S: serde::Serializer>(p99: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match p99 {
        Some(d) => s.serialize_some(&(d.as_secs_f64() * 1000.0)),
        None => s.serialize_none(),
    }
}

#[derive(Debug)]
pub struct Window {
    origin: Instant,
    slot_width: Duration,
    slots: Mutex<[Slot; SLOTS]>,
}

impl Window {
    pub fn new(length: Duration) -> Window {
        Window {
            origin: Instant::now(),
            slot_width: (length / SLOTS as u32).max(Duration::from_millis(1)),
            slots: Mutex::new([Slot::EMPTY; SLOTS]),
        }
    }

    fn index_at(&self, at: Instant) -> u64 {
        let elapsed =
            at.saturating_duration_since(self.origin).as_nanos() / self.slot_width.as_nanos();
        u64::try_from(elapsed).unwrap_or(u64::MAX - 1)
    }

    pub fn record(&self, status: u16, elapsed: Duration) {
        self.record_at(Instant::now(), status, elapsed);
    }

    /// [`Window::record`] of an answer given at `at`.
    pub fn record_at(&self, at: Instant, status: u16, elapsed: Duration) {
        let index = self.index_at(at);
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut slots[(index % SLOTS as u64) as usize];
        if slot.index != index {
            *slot = Slot {
                index,
                ..Slot::EMPTY
            };
        }
        slot.requests = slot.requests.saturating_add(1);
        if status >= 500 {
            slot.errors = slot.errors.saturating_add(1);
        }
        if status == 504 {
            slot.timeouts = slot.timeouts.saturating_add(1);
        }
        let bucket = &mut slot.latency[bucket(elapsed)];
        *bucket = bucket.saturating_add(1);
    }

    /// How much time [`Window::stats`] covers now: the nine slots before
    /// the current one and the current one so far, or less while the
    /// window is younger than that.
    pub fn span(&self) -> Duration {
        let elapsed = self.origin.elapsed();
        let into_slot = Duration::from_nanos(
            u64::try_from(elapsed.as_nanos() % self.slot_width.as_nanos()).unwrap_or(0),
        );
        (self.slot_width * (SLOTS as u32 - 1) + into_slot).min(elapsed)
    }

    /// The answers of the last window (the current slot and the nine
    /// before it).
    pub fn stats(&self) -> Stats {
        self.stats_at(Instant::now())
    }

    /// [`Window::stats`] as of `at`.
    pub fn stats_at(&self, at: Instant) -> Stats {
        let now = self.index_at(at);
        let slots = *self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut stats = Stats::default();
        let mut latency = [0u64; BUCKETS];
        for slot in slots
            .iter()
            .filter(|s| s.index <= now && now - s.index < SLOTS as u64)
        {
            stats.requests = stats.requests.saturating_add(slot.requests);
            stats.errors = stats.errors.saturating_add(slot.errors);
            stats.timeouts = stats.timeouts.saturating_add(slot.timeouts);
            for (sum, n) in latency.iter_mut().zip(slot.latency) {
                *sum += u64::from(n);
            }
        }
        stats.p50 = percentile(&latency, u64::from(stats.requests), 0.5);
        stats.p99 = percentile(&latency, u64::from(stats.requests), 0.99);
        for (bucket, n) in stats.latency.0.iter_mut().zip(latency) {
            *bucket = u32::try_from(n).unwrap_or(u32::MAX);
        }
        stats
    }
}

/// The bucket of a latency: the first whose upper bound holds it.
fn bucket(elapsed: Duration) -> usize {
    let secs = elapsed.as_secs_f64();
    if secs <= FIRST_BOUND_SECS {
        return 0;
    }
    let quarter_doublings = ((secs / FIRST_BOUND_SECS).log2() * 4.0).ceil();
    (quarter_doublings as usize).min(BUCKETS - 1)
}

fn upper_bound(bucket: usize) -> Duration {
    Duration::from_secs_f64(FIRST_BOUND_SECS * 2f64.powf(bucket as f64 / 4.0))
}

fn percentile(latency: &[u64; BUCKETS], total: u64, q: f64) -> Option<Duration> {
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in latency.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(upper_bound(i));
        }
    }
    Some(upper_bound(BUCKETS - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_errors_and_timeouts() {
        let window = Window::new(Duration::from_secs(60));
        for status in [200, 201, 404, 500, 503, 504] {
            window.record(status, Duration::from_millis(2));
        }
        let stats = window.stats();
        assert_eq!((stats.requests, stats.errors, stats.timeouts), (6, 3, 1));
        assert!((stats.error_rate() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn the_p99_is_within_a_bucket_of_the_truth() {
        let window = Window::new(Duration::from_secs(60));
        for i in 0..1000u64 {
            let ms = if i < 990 { 1 } else { 100 };
            window.record(200, Duration::from_millis(ms));
        }
        let p99 = window.stats().p99.unwrap();
        assert!(p99 >= Duration::from_millis(1), "{p99:?}");
        assert!(p99 <= Duration::from_micros(1190), "{p99:?}");
        window.record(200, Duration::from_millis(100));
        for _ in 0..20 {
            window.record(200, Duration::from_millis(100));
        }
        let p99 = window.stats().p99.unwrap();
        assert!(
            p99 >= Duration::from_millis(100) && p99 <= Duration::from_millis(119),
            "{p99:?}"
        );
    }

    #[test]
    fn old_answers_leave_the_window() {
        let window = Window::new(Duration::from_millis(100));
        window.record(500, Duration::from_millis(1));
        assert_eq!(window.stats().errors, 1);
        std::thread::sleep(Duration::from_millis(130));
        window.record(200, Duration::from_millis(1));
        assert_eq!(
            window.stats(),
            Stats {
                requests: 1,
                errors: 0,
                timeouts: 0,
                p50: window.stats().p50,
                p99: window.stats().p99,
                latency: window.stats().latency,
            }
        );
    }

    #[test]
    fn answers_surely_slower_than_a_threshold_are_counted() {
        let window = Window::new(Duration::from_secs(60));
        for ms in [1, 2, 5, 40, 45, 300] {
            window.record(200, Duration::from_millis(ms));
        }
        let stats = window.stats();
        assert_eq!(stats.slower_than(Duration::from_millis(30)), 3);
        assert_eq!(stats.slower_than(Duration::from_millis(100)), 1);
        assert_eq!(stats.slower_than(Duration::ZERO), 6);
    }

    #[test]
    fn extreme_latencies_fall_in_the_end_buckets() {
        assert_eq!(bucket(Duration::ZERO), 0);
        assert_eq!(bucket(Duration::from_secs(100_000)), BUCKETS - 1);
        assert_eq!(bucket(Duration::from_micros(500)), 4);
    }
}
