//! Retry budgets: a cap on retries across all calls, after gRPC's retry throttling.

use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Tokens are kept in thousandths, as gRPC does: a ratio has three decimal places.
const SCALE: f64 = 1000.0;
const ONE: u64 = 1000;

/// A retry budget shared by many calls: retries are allowed only while the recent calls have
/// mostly succeeded, so that during an outage the retry loop stops multiplying the load.
///
/// This is gRPC's retry throttling (gRFC A6). The budget holds up to `max_tokens` tokens and
/// starts full. Every failed attempt costs one token, every successful one earns back
/// `token_ratio` (rounded to thousandths), never above `max_tokens`. A retry is allowed only while
/// more than `max_tokens / 2` tokens are left. When everything fails, the first few failed
/// attempts drain half the tokens and retries stop, whatever the traffic; once calls succeed
/// again, every `1 / token_ratio` successes pay for one more failed attempt.
///
/// It is lock-free: one atomic word of fixed-point tokens. Recording a success into a full budget,
/// and a failure into an empty one, writes nothing.
///
/// ```
/// use retry_runtime::RetryBudget;
///
/// static BUDGET: RetryBudget = RetryBudget::new(10, 0.1);
///
/// assert!(BUDGET.can_retry());
/// for _ in 0..5 {
///     BUDGET.record_failure();
/// }
/// assert_eq!(BUDGET.tokens(), 5.0);
/// assert!(!BUDGET.can_retry(), "retries stop at half the tokens");
/// BUDGET.record_success();
/// assert!(BUDGET.can_retry());
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    /// Thousandths of a token.
    tokens: AtomicU64,
    max: u64,
    ratio: u64,
}

impl RetryBudget {
    /// A full budget of `max_tokens` tokens that earns back `token_ratio` tokens per success.
    ///
    /// A `const fn`, for a budget in a `static`. [`try_new`](Self::try_new) returns an error
    /// instead of panicking.
    ///
    /// # Panics
    ///
    /// If `max_tokens` is zero, or `token_ratio` is not a finite number of at least 0.001 (in a
    /// `static` or `const`, this is a compile error).
    pub const fn new(max_tokens: u32, token_ratio: f64) -> RetryBudget {
        match RetryBudget::try_new(max_tokens, token_ratio) {
            Ok(budget) => budget,
            Err(BudgetError::ZeroMaxTokens) => panic!("retry budget: max_tokens must be at least 1"),
            Err(BudgetError::TokenRatio(_)) => {
                panic!("retry budget: token_ratio must be a finite number of at least 0.001")
            }
        }
    }

    /// A full budget of `max_tokens` tokens that earns back `token_ratio` tokens per success, or
    /// why those settings are wrong: `max_tokens` must be at least 1 and `token_ratio` a finite
    /// number of at least 0.001 (the ratio is kept to three decimal places).
    pub const fn try_new(max_tokens: u32, token_ratio: f64) -> Result<RetryBudget, BudgetError> {
        if max_tokens == 0 {
            return Err(BudgetError::ZeroMaxTokens);
        }
        // `!(x >= y)` also refuses NaN.
        if !(token_ratio.is_finite() && token_ratio * SCALE + 0.5 >= 1.0) {
            return Err(BudgetError::TokenRatio(token_ratio));
        }
        let max = max_tokens as u64 * ONE;
        Ok(RetryBudget { tokens: AtomicU64::new(max), max, ratio: (token_ratio * SCALE + 0.5) as u64 })
    }

    /// Counts a failed attempt: one token less, down to zero.
    #[inline]
    pub fn record_failure(&self) {
        let mut tokens = self.tokens.load(Ordering::Relaxed);
        while tokens > 0 {
            match self.tokens.compare_exchange_weak(
                tokens,
                tokens.saturating_sub(ONE),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => tokens = now,
            }
        }
    }

    /// Counts a successful attempt: `token_ratio` tokens more, up to `max_tokens`.
    #[inline]
    pub fn record_success(&self) {
        let mut tokens = self.tokens.load(Ordering::Relaxed);
        while tokens < self.max {
            match self.tokens.compare_exchange_weak(
                tokens,
                (tokens + self.ratio).min(self.max),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => tokens = now,
            }
        }
    }

    /// Whether a retry is allowed now: more than half of `max_tokens` are left.
    #[inline]
    pub fn can_retry(&self) -> bool {
        self.tokens.load(Ordering::Relaxed) > self.max / 2
    }

    /// The tokens left, to three decimal places.
    pub fn tokens(&self) -> f64 {
        self.tokens.load(Ordering::Relaxed) as f64 / SCALE
    }

    /// The most tokens the budget holds.
    pub fn max_tokens(&self) -> u32 {
        (self.max / ONE) as u32
    }

    /// The tokens a success earns back, to three decimal places.
    pub fn token_ratio(&self) -> f64 {
        self.ratio as f64 / SCALE
    }
}

/// Why [`RetryBudget::try_new`] refused its settings.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum BudgetError {
    /// `max_tokens` is zero.
    ZeroMaxTokens,
    /// `token_ratio` is below 0.001, infinite or NaN.
    TokenRatio(f64),
}

impl fmt::Display for BudgetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BudgetError::ZeroMaxTokens => f.write_str("retry budget max_tokens must be at least 1"),
            BudgetError::TokenRatio(r) => {
                write!(f, "retry budget token_ratio must be a finite number of at least 0.001, got {r}")
            }
        }
    }
}

impl Error for BudgetError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_full_and_follows_grpc_arithmetic() {
        let b = RetryBudget::new(10, 0.1);
        assert_eq!(b.tokens(), 10.0);
        assert_eq!((b.max_tokens(), b.token_ratio()), (10, 0.1));
        b.record_success();
        assert_eq!(b.tokens(), 10.0, "capped at max_tokens");
        for _ in 0..4 {
            b.record_failure();
        }
        assert_eq!(b.tokens(), 6.0);
        assert!(b.can_retry());
        b.record_failure();
        assert_eq!(b.tokens(), 5.0);
        assert!(!b.can_retry(), "allowed only while tokens > max_tokens / 2");
        b.record_success();
        assert_eq!(b.tokens(), 5.1);
        assert!(b.can_retry());
    }

    #[test]
    fn tokens_never_go_below_zero() {
        let b = RetryBudget::new(2, 0.5);
        for _ in 0..5 {
            b.record_failure();
        }
        assert_eq!(b.tokens(), 0.0);
        b.record_success();
        assert_eq!(b.tokens(), 0.5);
    }

    #[test]
    fn odd_max_tokens_halves_exactly() {
        let b = RetryBudget::new(3, 0.5);
        b.record_failure(); // 2 > 1.5
        assert!(b.can_retry());
        b.record_failure(); // 1 <= 1.5
        assert!(!b.can_retry());
    }

    #[test]
    fn ratio_is_kept_to_thousandths() {
        assert_eq!(RetryBudget::new(1, 0.0005).token_ratio(), 0.001);
        assert_eq!(RetryBudget::new(1, 0.12345).token_ratio(), 0.123);
    }

    #[test]
    fn bad_settings_are_typed_errors() {
        assert_eq!(RetryBudget::try_new(0, 0.1).unwrap_err(), BudgetError::ZeroMaxTokens);
        for ratio in [0.0, -1.0, 0.0004, f64::NAN, f64::INFINITY] {
            let err = RetryBudget::try_new(10, ratio).unwrap_err();
            assert!(matches!(err, BudgetError::TokenRatio(_)), "{ratio}");
            assert!(err.to_string().starts_with("retry budget token_ratio must be"));
        }
    }

    #[test]
    #[should_panic(expected = "max_tokens must be at least 1")]
    fn new_panics_on_bad_settings() {
        let _ = RetryBudget::new(0, 0.1);
    }

    /// Runs `calls` calls of up to `1 + max_retries` attempts against a service whose attempts
    /// fail when `fails(attempt_number)` says so; returns the retries made.
    fn simulate(
        budget: &RetryBudget,
        calls: u32,
        max_retries: u32,
        mut fails: impl FnMut(u64) -> bool,
    ) -> u32 {
        let mut retries = 0;
        let mut attempt = 0u64;
        for _ in 0..calls {
            for n in 0..=max_retries {
                if n > 0 {
                    if !budget.can_retry() {
                        break;
                    }
                    retries += 1;
                }
                attempt += 1;
                if fails(attempt) {
                    budget.record_failure();
                } else {
                    budget.record_success();
                    break;
                }
            }
        }
        retries
    }

    #[test]
    fn a_total_outage_gets_almost_no_retries() {
        let budget = RetryBudget::new(10, 0.1);
        let calls = 1000;
        let retries = simulate(&budget, calls, 3, |_| true);
        let per_call = retries as f64 / calls as f64;
        assert!(per_call <= 0.2, "{retries} retries over {calls} calls");
        // Without the budget it would be 3 per call; with it, only the first calls retry.
        assert_eq!(retries, 3);
        assert_eq!(budget.tokens(), 0.0);
    }

    #[test]
    fn a_partial_outage_keeps_retries_near_the_token_ratio() {
        // Every other attempt fails (a deterministic 50 % outage).
        let budget = RetryBudget::new(10, 0.1);
        let calls = 1000;
        let retries = simulate(&budget, calls, 3, |attempt| attempt % 2 == 0);
        let per_call = retries as f64 / calls as f64;
        assert!(per_call <= 0.2, "{retries} retries over {calls} calls");
    }

    #[test]
    fn retries_come_back_after_recovery() {
        let budget = RetryBudget::new(10, 0.1);
        simulate(&budget, 100, 3, |_| true);
        assert!(!budget.can_retry());
        // 51 successes at 0.1 tokens bring 0 tokens back above 5.
        simulate(&budget, 51, 3, |_| false);
        assert!(budget.can_retry());
    }

    #[test]
    fn concurrent_use_keeps_tokens_in_bounds() {
        let budget = RetryBudget::new(5, 0.3);
        std::thread::scope(|s| {
            for t in 0..4 {
                let budget = &budget;
                s.spawn(move || {
                    for i in 0..10_000 {
                        if (i + t) % 3 == 0 {
                            budget.record_success();
                        } else {
                            budget.record_failure();
                        }
                        let tokens = budget.tokens();
                        assert!((0.0..=5.0).contains(&tokens), "{tokens}");
                    }
                });
            }
        });
    }
}
