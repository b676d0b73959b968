//! The summary of a workflow run: a table for people, one JSON object for programs.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

use super::counters::CountersSnapshot;
use super::workflow::WorkflowReport;

/// The figures of one workflow run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Summary {
    /// What was talked to: `"simulated"` or the session's base URL.
    pub engine: String,
    /// The fault mix of a simulated engine, in `--faults` syntax.
    pub faults: Option<String>,
    /// The seed of a simulated engine's faults.
    pub seed: Option<u64>,
    /// Pipelines run.
    pub pipelines: usize,
    /// Steps per pipeline.
    pub steps: usize,
    /// Pipelines whose every step succeeded.
    pub pipelines_ok: usize,
    /// Pipelines that stopped at a failed step.
    pub pipelines_failed: usize,
    /// Failed pipelines by the kind of error that stopped them.
    pub failures_by_kind: BTreeMap<String, u64>,
    /// Calls to the engine (one per step run).
    pub calls: u64,
    /// Attempts: requests sent or started.
    pub attempts: u64,
    /// Retries by the kind of error that caused them.
    pub retries_by_kind: BTreeMap<String, u64>,
    /// Retries that followed a `429` with `Retry-After`.
    pub retry_after_waits: u64,
    /// Of those, the ones sent no earlier than `Retry-After` asked.
    pub retry_after_honoured: u64,
    /// Times the circuit breaker opened.
    pub breaker_trips: u64,
    /// Calls the open breaker ended.
    pub breaker_rejections: u64,
    /// Median call latency, retries included.
    pub latency_p50: Duration,
    /// 99th-percentile call latency, retries included.
    pub latency_p99: Duration,
    /// Wall time of the whole workflow.
    pub wall_time: Duration,
}

impl Summary {
    /// The summary of `report`, with the adapter's `counters` taken after it.
    pub fn new(report: &WorkflowReport, counters: &CountersSnapshot, engine: impl Into<String>) -> Summary {
        let mut failures_by_kind = BTreeMap::new();
        for error in report.pipelines.iter().filter_map(|p| p.error.as_ref()) {
            *failures_by_kind.entry(error.kind_name().to_owned()).or_insert(0) += 1;
        }
        Summary {
            engine: engine.into(),
            faults: None,
            seed: None,
            pipelines: report.spec.pipelines,
            steps: report.spec.steps,
            pipelines_ok: report.succeeded(),
            pipelines_failed: report.failed(),
            failures_by_kind,
            calls: counters.calls,
            attempts: counters.attempts,
            retries_by_kind: counters.retries_by_kind.clone(),
            retry_after_waits: counters.retry_after_waits,
            retry_after_honoured: counters.retry_after_honoured,
            breaker_trips: counters.breaker_trips,
            breaker_rejections: counters.breaker_rejections,
            latency_p50: counters.latency_quantile(0.50),
            latency_p99: counters.latency_quantile(0.99),
            wall_time: report.wall_time,
        }
    }

    /// Adds the simulated engine's fault mix and seed.
    #[must_use]
    pub fn with_faults(mut self, faults: impl Into<String>, seed: u64) -> Summary {
        self.faults = Some(faults.into());
        self.seed = Some(seed);
        self
    }

    /// Retries of every kind together.
    pub fn retries(&self) -> u64 {
        self.retries_by_kind.values().sum()
    }

    /// The share of pipelines that succeeded, from 0 to 1 (1 for an empty workflow).
    pub fn success_rate(&self) -> f64 {
        if self.pipelines == 0 { 1.0 } else { self.pipelines_ok as f64 / self.pipelines as f64 }
    }

    /// The same figures as one JSON object; durations in milliseconds.
    pub fn to_json(&self) -> Value {
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        json!({
            "engine": self.engine,
            "faults": self.faults,
            "seed": self.seed,
            "pipelines": self.pipelines,
            "steps_per_pipeline": self.steps,
            "pipelines_ok": self.pipelines_ok,
            "pipelines_failed": self.pipelines_failed,
            "success_rate": self.success_rate(),
            "failures_by_kind": self.failures_by_kind,
            "calls": self.calls,
            "attempts": self.attempts,
            "retries": self.retries(),
            "retries_by_kind": self.retries_by_kind,
            "retry_after_waits": self.retry_after_waits,
            "retry_after_honoured": self.retry_after_honoured,
            "breaker_trips": self.breaker_trips,
            "breaker_rejections": self.breaker_rejections,
            "latency_p50_ms": ms(self.latency_p50),
            "latency_p99_ms": ms(self.latency_p99),
            "wall_time_ms": ms(self.wall_time),
        })
    }
}

/// A duration the way people read it: `850 µs`, `12.3 ms`, `2.41 s`.
fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 1e-3 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{:.0} µs", secs * 1e6)
    }
}

impl fmt::Display for Summary {
    /// The summary table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const W: usize = 30;
        write!(f, "{} pipelines x {} steps against the {} engine", self.pipelines, self.steps, self.engine)?;
        if let (Some(faults), Some(seed)) = (&self.faults, self.seed) {
            let faults = if faults.is_empty() { "none" } else { faults };
            write!(f, " (faults {faults}, seed {seed})")?;
        }
        writeln!(f)?;
        writeln!(f)?;
        let row =
            |f: &mut fmt::Formatter<'_>, label: &str, value: String| writeln!(f, "  {label:<W$}{value:>12}");
        let sub = |f: &mut fmt::Formatter<'_>, label: &str, value: String| {
            writeln!(f, "    {label:<w$}{value:>12}", w = W - 2)
        };
        row(f, "pipelines ok", format!("{} ({:.1} %)", self.pipelines_ok, self.success_rate() * 100.0))?;
        row(f, "pipelines failed", self.pipelines_failed.to_string())?;
        for (kind, n) in &self.failures_by_kind {
            sub(f, kind, n.to_string())?;
        }
        row(f, "calls", self.calls.to_string())?;
        row(f, "attempts", self.attempts.to_string())?;
        row(f, "retries", self.retries().to_string())?;
        for (kind, n) in &self.retries_by_kind {
            sub(f, kind, n.to_string())?;
        }
        row(
            f,
            "retry-after waits honoured",
            format!("{} / {}", self.retry_after_honoured, self.retry_after_waits),
        )?;
        row(f, "breaker trips", self.breaker_trips.to_string())?;
        row(f, "calls refused by the breaker", self.breaker_rejections.to_string())?;
        row(f, "call latency p50", human(self.latency_p50))?;
        row(f, "call latency p99", human(self.latency_p99))?;
        row(f, "wall time", human(self.wall_time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_micros(850)), "850 µs");
        assert_eq!(human(Duration::from_micros(12_345)), "12.3 ms");
        assert_eq!(human(Duration::from_millis(2_414)), "2.41 s");
    }
}
