//! The `metrics` feature: every count is also fed to the `metrics` crate's facade, under the same
//! names as the Prometheus exposition, labelled `function`.

use std::fmt::Debug;
use std::time::Duration;

use metrics::{Counter, Histogram, counter, histogram};

/// The handles of one function, registered once so that recording is one call each.
#[derive(Debug)]
pub(crate) struct Feed {
    name: String,
    first_try_successes: Counter,
    troubled_calls: Counter,
    successes_after_retry: Counter,
    permanent_failures: Counter,
    exhausted: Counter,
    breaker_rejections: Counter,
    budget_rejections: Counter,
    retries: Counter,
    retry_after_waits: Counter,
    delays: Histogram,
}

impl Feed {
    pub(crate) fn new(name: &str) -> Feed {
        let f = name.to_owned();
        Feed {
            first_try_successes: counter!("retry_first_try_successes_total", "function" => f.clone()),
            troubled_calls: counter!("retry_troubled_calls_total", "function" => f.clone()),
            successes_after_retry: counter!("retry_successes_after_retry_total", "function" => f.clone()),
            permanent_failures: counter!("retry_permanent_failures_total", "function" => f.clone()),
            exhausted: counter!("retry_exhausted_total", "function" => f.clone()),
            breaker_rejections: counter!("retry_breaker_rejections_total", "function" => f.clone()),
            budget_rejections: counter!("retry_budget_rejections_total", "function" => f.clone()),
            retries: counter!("retry_retries_total", "function" => f.clone()),
            retry_after_waits: counter!("retry_retry_after_waits_total", "function" => f.clone()),
            delays: histogram!("retry_delay_seconds", "function" => f.clone()),
            name: f,
        }
    }

    pub(crate) fn first_try_success(&self) {
        self.first_try_successes.increment(1);
    }
    pub(crate) fn troubled_call(&self) {
        self.troubled_calls.increment(1);
    }
    pub(crate) fn success_after_retry(&self) {
        self.successes_after_retry.increment(1);
    }
    pub(crate) fn permanent_failure(&self) {
        self.permanent_failures.increment(1);
    }
    pub(crate) fn exhausted(&self) {
        self.exhausted.increment(1);
    }
    pub(crate) fn breaker_rejection(&self) {
        self.breaker_rejections.increment(1);
    }
    pub(crate) fn budget_rejection(&self) {
        self.budget_rejections.increment(1);
    }
    pub(crate) fn retry(&self, delay: Duration, kind: Option<&dyn Debug>, retry_after: bool) {
        self.retries.increment(1);
        if retry_after {
            self.retry_after_waits.increment(1);
        }
        if let Some(kind) = kind {
            counter!("retry_retries_by_kind_total", "function" => self.name.clone(), "kind" => format!("{kind:?}"))
                .increment(1);
        }
        self.delays.record(delay.as_secs_f64());
    }
}
