//! Prometheus text exposition (format 0.0.4) of every record.

use std::fmt::{self, Write};

use super::histogram::DELAY_BUCKETS_MS;
use super::record::{FnSnapshot, snapshot};
use crate::breaker::BreakerState;

/// Every record in the Prometheus text format, ready to serve at `/metrics`.
pub fn prometheus() -> String {
    let mut out = String::new();
    write_prometheus(&mut out, &snapshot()).expect("writing to a String cannot fail");
    out
}

/// Writes `records` in the Prometheus text format.
pub fn write_prometheus(out: &mut impl Write, records: &[FnSnapshot]) -> fmt::Result {
    type Counter = (&'static str, &'static str, fn(&FnSnapshot) -> u64);
    const COUNTERS: [Counter; 10] = [
        ("retry_calls_total", "Calls of a retried function.", |r| r.calls),
        ("retry_attempts_total", "Attempts, first ones and retries.", |r| r.attempts),
        ("retry_first_try_successes_total", "Calls that succeeded on the first attempt.", |r| {
            r.first_try_successes
        }),
        ("retry_successes_after_retry_total", "Calls that succeeded after retrying.", |r| {
            r.successes_after_retry
        }),
        ("retry_permanent_failures_total", "Calls that returned an error not to retry.", |r| {
            r.permanent_failures
        }),
        ("retry_exhausted_total", "Calls that gave up on a retryable error.", |r| r.exhausted),
        ("retry_breaker_rejections_total", "Attempts refused by the circuit breaker.", |r| {
            r.breaker_rejections
        }),
        ("retry_budget_rejections_total", "Retries denied by the retry budget.", |r| r.budget_rejections),
        ("retry_retries_total", "Retries made.", |r| r.retries),
        ("retry_retry_after_waits_total", "Retries whose delay honoured a Retry-After hint.", |r| {
            r.retry_after_waits
        }),
    ];
    for (name, help, value) in COUNTERS {
        writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter")?;
        for r in records {
            writeln!(out, "{name}{{function=\"{}\"}} {}", Escaped(&r.name), value(r))?;
        }
    }

    writeln!(out, "# HELP retry_retries_by_kind_total Retries by error kind.")?;
    writeln!(out, "# TYPE retry_retries_by_kind_total counter")?;
    for r in records {
        for (kind, n) in &r.retries_by_kind {
            writeln!(
                out,
                "retry_retries_by_kind_total{{function=\"{}\",kind=\"{}\"}} {n}",
                Escaped(&r.name),
                Escaped(kind)
            )?;
        }
    }

    writeln!(out, "# HELP retry_delay_seconds Delays slept before retries.")?;
    writeln!(out, "# TYPE retry_delay_seconds histogram")?;
    for r in records {
        let name = Escaped(&r.name);
        let mut cumulative = 0;
        for (i, bound) in DELAY_BUCKETS_MS.iter().enumerate() {
            cumulative += r.delays.counts.get(i).copied().unwrap_or(0);
            writeln!(
                out,
                "retry_delay_seconds_bucket{{function=\"{name}\",le=\"{}\"}} {cumulative}",
                bound / 1000.0
            )?;
        }
        let count = r.delays.count();
        writeln!(out, "retry_delay_seconds_bucket{{function=\"{name}\",le=\"+Inf\"}} {count}")?;
        writeln!(out, "retry_delay_seconds_sum{{function=\"{name}\"}} {}", r.delays.sum.as_secs_f64())?;
        writeln!(out, "retry_delay_seconds_count{{function=\"{name}\"}} {count}")?;
    }

    writeln!(
        out,
        "# HELP retry_breaker_state State of the function's circuit breaker: 0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled."
    )?;
    writeln!(out, "# TYPE retry_breaker_state gauge")?;
    for r in records {
        if let Some(state) = r.breaker {
            let code = match state {
                BreakerState::Closed => 0,
                BreakerState::Open => 1,
                BreakerState::HalfOpen => 2,
                BreakerState::ForcedOpen => 3,
                BreakerState::Disabled => 4,
            };
            writeln!(out, "retry_breaker_state{{function=\"{}\"}} {code}", Escaped(&r.name))?;
        }
    }
    Ok(())
}

/// A label value escaped as the format requires: backslash, double quote and line feed.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}
