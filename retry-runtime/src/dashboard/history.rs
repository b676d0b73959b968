//! The samples the dashboard keeps, the rates and health computed from them, and the JSON frames
//! it sends.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::breaker::BreakerState;
use crate::telemetry::{DELAY_BUCKETS_MS, FnSnapshot};

/// Points in a sparkline.
pub(crate) const SPARK_POINTS: usize = 120;
/// The time one sparkline point covers.
pub(crate) const SPARK_STEP: Duration = Duration::from_secs(1);
/// How far back samples are kept: the sparkline's span, which also bounds the rate window.
pub(crate) const HISTORY: Duration = Duration::from_secs(SPARK_POINTS as u64);

/// The error rate from which a function is yellow.
pub(crate) const YELLOW_FROM: f64 = 0.01;
/// The error rate from which a function is red.
pub(crate) const RED_FROM: f64 = 0.10;

/// One frame as sent to every event stream.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    /// 1 for the first sample, then one more per sample.
    pub(crate) seq: u64,
    /// The frame as one line of JSON.
    pub(crate) json: Arc<str>,
}

/// The counters whose deltas the dashboard needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    calls: u64,
    retries: u64,
    /// Calls that ended in an error: permanent failures, exhausted retries, breaker and budget
    /// rejections.
    failed: u64,
}

impl Counters {
    fn of(s: &FnSnapshot) -> Self {
        Counters {
            calls: s.calls,
            retries: s.retries,
            failed: s.permanent_failures + s.exhausted + s.breaker_rejections + s.budget_rejections,
        }
    }

    fn since(self, earlier: Counters) -> Counters {
        Counters {
            calls: self.calls.saturating_sub(earlier.calls),
            retries: self.retries.saturating_sub(earlier.retries),
            failed: self.failed.saturating_sub(earlier.failed),
        }
    }
}

/// One function's samples, oldest first; never empty.
#[derive(Debug)]
struct Series {
    points: VecDeque<(Instant, Counters)>,
}

impl Series {
    /// The last point at or before `t`, or the first point when `t` is older than all of them.
    fn at(&self, t: Instant) -> (Instant, Counters) {
        let after = self.points.partition_point(|&(at, _)| at <= t);
        self.points[after.saturating_sub(1)]
    }

    /// The first point at or after `t`, or the last point when all of them are older.
    fn at_or_after(&self, t: Instant) -> (Instant, Counters) {
        let after = self.points.partition_point(|&(at, _)| at < t);
        self.points[after.min(self.points.len() - 1)]
    }

    fn latest(&self) -> (Instant, Counters) {
        *self.points.back().expect("a series is never empty")
    }

    /// Drops points older than `cutoff`, but keeps the last one at or before it as the baseline
    /// of the oldest delta.
    fn trim(&mut self, cutoff: Instant) {
        while self.points.len() >= 2 && self.points[1].0 <= cutoff {
            self.points.pop_front();
        }
    }
}

/// How a function is doing over the rate window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Health {
    /// No call ended in the window and the breaker is not open.
    Idle,
    /// Error rate below 1 %.
    Green,
    /// Error rate below 10 %, or the breaker is half-open.
    Yellow,
    /// Error rate of 10 % or more, or the breaker is open.
    Red,
}

impl Health {
    /// `calls` and `failed` ended in the window.
    pub(crate) fn of(calls: u64, failed: u64, breaker: Option<BreakerState>) -> Health {
        let by_rate = match error_rate(calls, failed) {
            None => Health::Idle,
            Some(rate) if rate < YELLOW_FROM => Health::Green,
            Some(rate) if rate < RED_FROM => Health::Yellow,
            Some(_) => Health::Red,
        };
        match breaker {
            Some(state) if state.is_open() => Health::Red,
            Some(BreakerState::HalfOpen) if matches!(by_rate, Health::Idle | Health::Green) => Health::Yellow,
            _ => by_rate,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Health::Idle => "idle",
            Health::Green => "green",
            Health::Yellow => "yellow",
            Health::Red => "red",
        }
    }
}

/// Failed calls over calls, at most 1; `None` when nothing happened. Failures without calls (a
/// call counted in an earlier window that failed in this one) count as a rate of 1.
fn error_rate(calls: u64, failed: u64) -> Option<f64> {
    match (calls, failed) {
        (0, 0) => None,
        (0, _) => Some(1.0),
        (calls, failed) => Some((failed as f64 / calls as f64).min(1.0)),
    }
}

/// Every function's samples since the dashboard started (at most [`HISTORY`] of them).
#[derive(Debug)]
pub(crate) struct History {
    started: Instant,
    interval: Duration,
    window: Duration,
    /// By position in the telemetry registry, which only ever appends.
    series: Vec<Series>,
    last: Option<Instant>,
    seq: u64,
}

impl History {
    pub(crate) fn new(started: Instant, interval: Duration, window: Duration) -> Self {
        History { started, interval, window, series: Vec::new(), last: None, seq: 0 }
    }

    /// Records a sample taken at `now` and builds the frame that shows it.
    pub(crate) fn sample(&mut self, now: Instant, snapshots: &[FnSnapshot]) -> Frame {
        self.record(now, snapshots);
        Frame { seq: self.seq, json: self.frame(now, snapshots).to_string().into() }
    }

    fn record(&mut self, now: Instant, snapshots: &[FnSnapshot]) {
        let cutoff = now.checked_sub(HISTORY.max(self.window) + self.interval);
        for (i, snapshot) in snapshots.iter().enumerate() {
            if i == self.series.len() {
                // A function first called after the previous sample: it had nothing then. One
                // already called when the dashboard started has its first sample as baseline.
                let mut points = VecDeque::new();
                if let Some(last) = self.last {
                    points.push_back((last, Counters::default()));
                }
                self.series.push(Series { points });
            }
            let series = &mut self.series[i];
            series.points.push_back((now, Counters::of(snapshot)));
            if let Some(cutoff) = cutoff {
                series.trim(cutoff);
            }
        }
        self.last = Some(now);
        self.seq += 1;
    }

    fn frame(&self, now: Instant, snapshots: &[FnSnapshot]) -> Value {
        let functions: Vec<Value> = snapshots
            .iter()
            .zip(&self.series)
            .map(|(s, series)| function(s, series, now, self.window))
            .collect();
        json!({
            "seq": self.seq,
            "uptime_ms": millis(now.saturating_duration_since(self.started)),
            "interval_ms": millis(self.interval),
            "window_ms": millis(self.window),
            "spark_step_ms": millis(SPARK_STEP),
            "delay_buckets_ms": DELAY_BUCKETS_MS,
            "thresholds": { "yellow": YELLOW_FROM, "red": RED_FROM },
            "functions": functions,
        })
    }
}

/// One function's part of a frame.
fn function(s: &FnSnapshot, series: &Series, now: Instant, window: Duration) -> Value {
    let (t1, latest) = series.latest();
    // The window starts at the first sample inside it: its span is at most `window`.
    let (t0, base) = series.at_or_after(now.checked_sub(window).unwrap_or(series.points[0].0));
    let delta = latest.since(base);
    let seconds = t1.saturating_duration_since(t0).as_secs_f64();
    let per_second = |n: u64| if seconds > 0.0 { n as f64 / seconds } else { 0.0 };
    let health = Health::of(delta.calls, delta.failed, s.breaker);

    let sparkline: Vec<u64> = (0..SPARK_POINTS)
        .map(|i| {
            let back = SPARK_STEP * (SPARK_POINTS - 1 - i) as u32;
            let end = now.checked_sub(back);
            let start = end.and_then(|end| end.checked_sub(SPARK_STEP));
            match (start, end) {
                (Some(start), Some(end)) => series.at(end).1.since(series.at(start).1).retries,
                _ => 0,
            }
        })
        .collect();
    let kinds: Vec<Value> =
        s.retries_by_kind.iter().map(|(kind, count)| json!({ "kind": kind, "count": count })).collect();

    json!({
        "name": s.name,
        "calls": s.calls,
        "attempts": s.attempts,
        "first_try_successes": s.first_try_successes,
        "successes_after_retry": s.successes_after_retry,
        "permanent_failures": s.permanent_failures,
        "exhausted": s.exhausted,
        "breaker_rejections": s.breaker_rejections,
        "budget_rejections": s.budget_rejections,
        "retries": s.retries,
        "retry_after_waits": s.retry_after_waits,
        "failed": latest.failed,
        "retries_by_kind": kinds,
        "delays": { "counts": s.delays.counts, "sum_ms": s.delays.sum.as_secs_f64() * 1000.0 },
        "breaker": s.breaker.map(BreakerState::as_str),
        "window": {
            "seconds": seconds,
            "calls": delta.calls,
            "retries": delta.retries,
            "failed": delta.failed,
            "calls_per_sec": per_second(delta.calls),
            "retries_per_sec": per_second(delta.retries),
            "error_rate": error_rate(delta.calls, delta.failed),
        },
        "health": health.as_str(),
        "sparkline": sparkline,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(name: &str, calls: u64, retries: u64, exhausted: u64) -> FnSnapshot {
        FnSnapshot {
            name: name.to_owned(),
            calls,
            attempts: calls + retries,
            retries,
            exhausted,
            ..Default::default()
        }
    }

    fn fields(frame: &Frame) -> Value {
        serde_json::from_str(&frame.json).expect("a frame is JSON")
    }

    #[test]
    fn health_follows_the_documented_thresholds() {
        assert_eq!(Health::of(0, 0, None), Health::Idle);
        assert_eq!(Health::of(1000, 9, None), Health::Green);
        assert_eq!(Health::of(1000, 10, None), Health::Yellow);
        assert_eq!(Health::of(1000, 99, None), Health::Yellow);
        assert_eq!(Health::of(1000, 100, None), Health::Red);
        assert_eq!(Health::of(0, 3, None), Health::Red);
        assert_eq!(Health::of(0, 0, Some(BreakerState::Open)), Health::Red);
        assert_eq!(Health::of(100, 0, Some(BreakerState::ForcedOpen)), Health::Red);
        assert_eq!(Health::of(100, 0, Some(BreakerState::HalfOpen)), Health::Yellow);
        assert_eq!(Health::of(100, 50, Some(BreakerState::HalfOpen)), Health::Red);
        assert_eq!(Health::of(100, 0, Some(BreakerState::Closed)), Health::Green);
    }

    #[test]
    fn rates_are_deltas_over_the_window() {
        let t0 = Instant::now();
        let mut history = History::new(t0, Duration::from_secs(1), Duration::from_secs(10));
        // Counts from before the dashboard started are a baseline, not a burst.
        history.sample(t0, &[snap("f", 500, 100, 0)]);
        for s in 1..=20u64 {
            history.sample(t0 + Duration::from_secs(s), &[snap("f", 500 + 10 * s, 100 + 2 * s, s / 2)]);
        }
        let frame = fields(&history.sample(t0 + Duration::from_secs(21), &[snap("f", 710, 142, 10)]));
        assert_eq!(frame["seq"], 22);
        let f = &frame["functions"][0];
        assert_eq!(f["window"]["calls"], 100);
        assert_eq!(f["window"]["retries"], 20);
        assert_eq!(f["window"]["failed"], 5);
        assert_eq!(f["window"]["calls_per_sec"], 10.0);
        assert_eq!(f["window"]["retries_per_sec"], 2.0);
        assert_eq!(f["window"]["error_rate"], 0.05);
        assert_eq!(f["health"], "yellow");
        let spark: Vec<u64> = serde_json::from_value(f["sparkline"].clone()).unwrap();
        assert_eq!(spark.len(), SPARK_POINTS);
        assert_eq!(&spark[SPARK_POINTS - 21..], &[2; 21]);
        assert!(spark[..SPARK_POINTS - 21].iter().all(|&n| n == 0), "{spark:?}");
    }

    #[test]
    fn a_function_first_called_later_starts_from_zero() {
        let t0 = Instant::now();
        let mut history = History::new(t0, Duration::from_millis(500), Duration::from_secs(10));
        history.sample(t0, &[snap("a", 1, 0, 0)]);
        let frame =
            fields(&history.sample(t0 + Duration::from_secs(1), &[snap("a", 1, 0, 0), snap("b", 4, 6, 4)]));
        let b = &frame["functions"][1];
        assert_eq!(b["name"], "b");
        assert_eq!(b["window"]["calls"], 4);
        assert_eq!(b["window"]["retries_per_sec"], 6.0);
        assert_eq!(b["health"], "red");
        assert_eq!(b["sparkline"][SPARK_POINTS - 1], 6);
        assert_eq!(frame["functions"][0]["health"], "idle");
    }

    #[test]
    fn history_is_bounded() {
        let t0 = Instant::now();
        let interval = Duration::from_millis(50);
        let mut history = History::new(t0, interval, Duration::from_secs(10));
        for i in 0..10_000u32 {
            history.sample(t0 + interval * i, &[snap("f", u64::from(i), 0, 0)]);
        }
        let kept = history.series[0].points.len();
        assert!(kept <= (HISTORY + interval * 2).as_millis() as usize / 50, "{kept} points kept");
        let frame = fields(&history.sample(t0 + interval * 10_000, &[snap("f", 10_000, 0, 0)]));
        assert_eq!(frame["functions"][0]["window"]["calls_per_sec"], 20.0);
    }
}
