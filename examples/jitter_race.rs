//! Why jitter: a re-run of Marc Brooker's "Exponential Backoff And Jitter" simulation with the
//! crate's own delay math (`RetryPolicy::jittered_delay`).
//!
//! N clients race to update one resource under optimistic concurrency. Each attempt reads the
//! resource's version, then, one network delay later, writes conditionally: the write succeeds
//! only if nobody wrote in between. A client whose write loses backs off per the policy and tries
//! again until it wins. The simulation runs in simulated time (a queue of events, no sleeping) with
//! a seeded generator, so every run with the same seed prints the same table.
//!
//! ```text
//! cargo run --example jitter_race -- jitter_race.svg            # table on stdout, chart in the file
//! cargo run --example jitter_race -- --seed 7 --runs 10 out.svg
//! ```
//!
//! Expected shape (Brooker's): exponential backoff without jitter does the most work and takes the
//! longest, because the clients that collided once collide again on every retry; full jitter does
//! the least work; decorrelated jitter is close to it; equal jitter is in between.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use retry_runtime::{Jitter, RetryPolicy};

/// The jitter kinds compared, in table and legend order.
const KINDS: [(Jitter, &str); 4] = [
    (Jitter::None, "no jitter"),
    (Jitter::Full, "full"),
    (Jitter::Equal, "equal"),
    (Jitter::Decorrelated, "decorrelated"),
];

/// The numbers of clients simulated.
const CLIENTS: [usize; 20] =
    [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200];

/// The simulation's settings: Brooker's base delay and cap, and a network delay of about 10 ms.
#[derive(Debug, Clone, Copy)]
struct Setup {
    /// Base delay of the backoff.
    base: Duration,
    /// Cap on any one delay.
    cap: Duration,
    /// Mean one-way network delay.
    network: Duration,
    /// The network delay varies uniformly by this fraction either side of the mean.
    network_spread: f64,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            base: Duration::from_millis(5),
            cap: Duration::from_secs(2),
            network: Duration::from_millis(10),
            network_spread: 0.1,
        }
    }
}

/// What one race cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Outcome {
    /// Conditional writes sent, winning and losing.
    calls: u64,
    /// Simulated time until the last client's write won.
    completion: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The client reads the resource's version.
    Read { client: usize },
    /// The client's conditional write reaches the resource; it read `version`.
    Write { client: usize, version: u64 },
}

/// The policy of one jitter kind: Brooker's base and cap, doubling, retrying until success.
fn policy(setup: &Setup, jitter: Jitter) -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(u32::MAX)
        .backoff(setup.base)
        .max_delay(setup.cap)
        .multiplier(2.0)
        .jitter(jitter)
        .build()
        .expect("a valid policy")
}

/// Runs one race of `clients` clients under `policy`, in simulated nanoseconds.
fn race(setup: &Setup, policy: &RetryPolicy, clients: usize, rng: &mut SmallRng) -> Outcome {
    let network = |rng: &mut SmallRng| -> u64 {
        let mean = setup.network.as_nanos() as f64;
        let spread = mean * setup.network_spread;
        (mean + rng.random_range(-spread..=spread)).round() as u64
    };
    // (time, sequence number for a stable order of simultaneous events, event)
    let mut queue: BinaryHeap<Reverse<(u64, u64, Event)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |queue: &mut BinaryHeap<_>, at: u64, event: Event| {
        seq += 1;
        queue.push(Reverse((at, seq, event)));
    };
    for client in 0..clients {
        push(&mut queue, 0, Event::Read { client });
    }
    let mut version = 0u64;
    let mut failures = vec![0u32; clients];
    let mut previous = vec![policy.backoff(); clients];
    let mut outcome = Outcome::default();
    let mut done = 0;
    while let Some(Reverse((now, _, event))) = queue.pop() {
        match event {
            Event::Read { client } => {
                let arrives = now + network(rng);
                push(&mut queue, arrives, Event::Write { client, version });
            }
            Event::Write { client, version: read } => {
                outcome.calls += 1;
                if read == version {
                    version += 1;
                    done += 1;
                    outcome.completion = Duration::from_nanos(now);
                    if done == clients {
                        break;
                    }
                } else {
                    failures[client] += 1;
                    let delay = policy.jittered_delay(failures[client], previous[client], rng);
                    previous[client] = delay;
                    // The loss reaches the client one network delay later; it sleeps, then its next
                    // read reaches the resource one network delay after that.
                    let next = now + network(rng) + delay.as_nanos() as u64 + network(rng);
                    push(&mut queue, next, Event::Read { client });
                }
            }
        }
    }
    outcome
}

/// The mean outcome of `runs` races per jitter kind, for each number of clients, in `KINDS` order.
fn simulate(setup: &Setup, clients: &[usize], runs: u32, seed: u64) -> Vec<(usize, [Outcome; 4])> {
    clients
        .iter()
        .map(|&n| {
            let mut means = [Outcome::default(); 4];
            for (k, (jitter, _)) in KINDS.iter().enumerate() {
                let policy = policy(setup, *jitter);
                let (mut calls, mut completion) = (0u64, Duration::ZERO);
                for run in 0..runs {
                    // The same seed per (N, run) for every kind: the kinds face the same network.
                    let mut rng = SmallRng::seed_from_u64(seed ^ ((n as u64) << 32) ^ u64::from(run));
                    let o = race(setup, &policy, n, &mut rng);
                    calls += o.calls;
                    completion += o.completion;
                }
                means[k] = Outcome { calls: calls / u64::from(runs), completion: completion / runs };
            }
            (n, means)
        })
        .collect()
}

fn table(results: &[(usize, [Outcome; 4])]) -> String {
    let mut out = String::new();
    let names: Vec<_> = KINDS.iter().map(|k| k.1).collect();
    let _ =
        writeln!(out, "{:>5} | {:^51} | {:^55}", "", "calls (conditional writes)", "completion time (ms)");
    let _ = write!(out, "{:>5} |", "N");
    for name in &names {
        let _ = write!(out, " {name:>12}");
    }
    let _ = write!(out, " |");
    for name in &names {
        let _ = write!(out, " {name:>13}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", "-".repeat(5 + 3 + 52 + 2 + 56));
    for (n, outcomes) in results {
        let _ = write!(out, "{n:>5} |");
        for o in outcomes {
            let _ = write!(out, " {:>12}", o.calls);
        }
        let _ = write!(out, " |");
        for o in outcomes {
            let _ = write!(out, " {:>13.1}", o.completion.as_secs_f64() * 1e3);
        }
        let _ = writeln!(out);
    }
    out
}

/// Line colours per kind, colour-blind safe (Okabe-Ito).
const COLOURS: [&str; 4] = ["#D55E00", "#0072B2", "#E69F00", "#009E73"];

/// A round axis maximum at or above `max`, and its tick step.
fn nice_axis(max: f64) -> (f64, f64) {
    let max = max.max(1e-9);
    let magnitude = 10f64.powf(max.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude / 2.0)
        .find(|s| max / s <= 6.0)
        .unwrap_or(magnitude * 2.0);
    ((max / step).ceil() * step, step)
}

fn fmt_tick(v: f64) -> String {
    if v >= 1000.0 && v % 1000.0 == 0.0 {
        format!("{}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A two-panel SVG: calls against N, and completion time against N, one line per jitter kind.
fn svg(results: &[(usize, [Outcome; 4])], setup: &Setup, seed: u64, runs: u32) -> String {
    let (width, height) = (1000.0, 470.0);
    let (panel_w, panel_h) = (400.0, 300.0);
    // (title, y label, logarithmic y axis, value): completion times span three decades, so the
    // jittered kinds would be flat lines on a linear axis.
    type Value = Box<dyn Fn(&Outcome) -> f64>;
    let panels: [(&str, &str, bool, Value); 2] = [
        ("Work: conditional writes", "calls", false, Box::new(|o: &Outcome| o.calls as f64)),
        (
            "Completion time",
            "time until the last client wins (ms, log scale)",
            true,
            Box::new(|o: &Outcome| o.completion.as_secs_f64() * 1e3),
        ),
    ];
    let n_max = results.iter().map(|r| r.0).max().unwrap_or(1) as f64;
    let (x_max, x_step) = nice_axis(n_max);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="26" text-anchor="middle" font-size="16" font-weight="bold">Exponential backoff and jitter: N clients, optimistic concurrency on one resource</text>"#,
        width / 2.0
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="46" text-anchor="middle" fill="#555">base {:?}, cap {:?}, network {:?} ± {:.0}%, mean of {runs} runs, seed {seed}</text>"##,
        width / 2.0,
        setup.base,
        setup.cap,
        setup.network,
        setup.network_spread * 100.0
    );
    for (p, (title, y_label, log, value)) in panels.iter().enumerate() {
        let left = 80.0 + p as f64 * 500.0;
        let top = 80.0;
        let values = || results.iter().flat_map(|r| r.1.iter().map(value));
        let y_data_max = values().fold(0.0, f64::max);
        let (y, ticks): (Box<dyn Fn(f64) -> f64>, Vec<f64>) = if *log {
            let lo = values().fold(f64::MAX, f64::min).max(1e-3).log10().floor();
            let hi = y_data_max.max(1e-3).log10().ceil().max(lo + 1.0);
            let ticks = (lo as i32..=hi as i32)
                .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
                .filter(|t| t.log10() <= hi + 1e-9)
                .collect();
            (Box::new(move |v: f64| top + panel_h - (v.max(1e-3).log10() - lo) / (hi - lo) * panel_h), ticks)
        } else {
            let (y_max, y_step) = nice_axis(y_data_max);
            let ticks =
                (0..).map(|i| f64::from(i) * y_step).take_while(|t| *t <= y_max + y_step / 2.0).collect();
            (Box::new(move |v: f64| top + panel_h - v / y_max * panel_h), ticks)
        };
        let x = |n: f64| left + n / x_max * panel_w;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="14" font-weight="bold">{title}</text>"#,
            left + panel_w / 2.0,
            top - 12.0
        );
        // Grid and ticks.
        for v in ticks {
            let _ = writeln!(
                s,
                r##"<line x1="{left}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#e5e5e5"/><text x="{2}" y="{3:.1}" text-anchor="end">{4}</text>"##,
                y(v),
                left + panel_w,
                left - 6.0,
                y(v) + 4.0,
                fmt_tick(v)
            );
        }
        let mut n = 0.0;
        while n <= x_max + x_step / 2.0 {
            let _ = writeln!(
                s,
                r##"<line x1="{0:.1}" y1="{top}" x2="{0:.1}" y2="{1}" stroke="#e5e5e5"/><text x="{0:.1}" y="{2}" text-anchor="middle">{3}</text>"##,
                x(n),
                top + panel_h,
                top + panel_h + 18.0,
                fmt_tick(n)
            );
            n += x_step;
        }
        // Axes and their labels.
        let _ = writeln!(
            s,
            r#"<path d="M{left},{top} V{0} H{1}" fill="none" stroke="black"/>"#,
            top + panel_h,
            left + panel_w
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">number of clients N</text>"#,
            left + panel_w / 2.0,
            top + panel_h + 40.0
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate({},{}) rotate(-90)" text-anchor="middle">{y_label}</text>"#,
            left - 55.0,
            top + panel_h / 2.0
        );
        // One line per kind.
        for (k, colour) in COLOURS.iter().enumerate() {
            let points: Vec<String> =
                results.iter().map(|(n, o)| format!("{:.1},{:.1}", x(*n as f64), y(value(&o[k])))).collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                points.join(" ")
            );
            for p in &points {
                let (px, py) = p.split_once(',').unwrap();
                let _ = writeln!(s, r#"<circle cx="{px}" cy="{py}" r="2.5" fill="{colour}"/>"#);
            }
        }
    }
    // Legend, below both panels.
    let legend_y = height - 28.0;
    let mut lx = width / 2.0 - 260.0;
    for ((_, name), colour) in KINDS.iter().zip(COLOURS) {
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{legend_y}" x2="{}" y2="{legend_y}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{name}</text>"#,
            lx + 24.0,
            lx + 30.0,
            legend_y + 4.0
        );
        lx += 140.0;
    }
    let _ = writeln!(s, "</svg>");
    s
}

fn usage() -> ! {
    eprintln!("usage: jitter_race [--seed N] [--runs N] [OUT.svg]");
    std::process::exit(2);
}

fn main() {
    let mut seed = 1u64;
    let mut runs = 5u32;
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()),
            "--runs" => {
                runs = args.next().and_then(|v| v.parse().ok()).filter(|r| *r > 0).unwrap_or_else(|| usage())
            }
            "-h" | "--help" => usage(),
            _ if arg.starts_with('-') => usage(),
            _ => out = Some(arg),
        }
    }
    let setup = Setup::default();
    let results = simulate(&setup, &CLIENTS, runs, seed);
    println!(
        "base {:?}, cap {:?}, network {:?} ± {:.0}%, mean of {runs} runs per cell, seed {seed}\n",
        setup.base,
        setup.cap,
        setup.network,
        setup.network_spread * 100.0
    );
    print!("{}", table(&results));
    if let Some(path) = out {
        if let Err(e) = std::fs::write(&path, svg(&results, &setup, seed, runs)) {
            eprintln!("cannot write {path}: {e}");
            std::process::exit(1);
        }
        println!("\nchart written to {path}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brooker's shape: no jitter does the most work and finishes last, by far; equal jitter does
    /// more work than full jitter and takes longer than both full and decorrelated; decorrelated
    /// jitter is close to full jitter in work.
    #[test]
    fn reproduces_brookers_shape() {
        let setup = Setup::default();
        for (n, [none, full, equal, decorrelated]) in simulate(&setup, &[20, 50], 4, 1) {
            for other in [full, equal, decorrelated] {
                assert!(2 * none.calls > 3 * other.calls, "N={n}: no jitter {none:?} vs {other:?}");
                assert!(none.completion > 5 * other.completion, "N={n}: no jitter {none:?} vs {other:?}");
            }
            assert!(full.calls <= equal.calls, "N={n}: full {full:?} vs equal {equal:?}");
            assert!(equal.completion > full.completion, "N={n}: equal {equal:?} vs full {full:?}");
            assert!(equal.completion > decorrelated.completion, "N={n}: equal {equal:?} vs {decorrelated:?}");
            let ratio = decorrelated.calls as f64 / full.calls as f64;
            assert!((0.7..1.3).contains(&ratio), "N={n}: decorrelated {decorrelated:?} vs full {full:?}");
        }
    }

    /// Under heavy contention full jitter does the least work of all (at small N decorrelated
    /// jitter, whose first delays are longer, can be slightly ahead).
    #[test]
    fn full_jitter_does_the_least_work_under_contention() {
        let setup = Setup::default();
        let [(_, [none, full, equal, decorrelated])] = simulate(&setup, &[150], 2, 1)[..] else {
            unreachable!()
        };
        for other in [none, equal, decorrelated] {
            assert!(full.calls < other.calls, "full {full:?} vs {other:?}");
        }
    }

    #[test]
    fn simulation_is_reproducible_and_everyone_wins() {
        let setup = Setup::default();
        let a = simulate(&setup, &[15], 2, 9);
        assert_eq!(a, simulate(&setup, &[15], 2, 9));
        for o in a[0].1 {
            assert!(o.calls >= 15, "every client writes at least once: {o:?}");
        }
        // One client never conflicts: one call, one network delay.
        let mut rng = SmallRng::seed_from_u64(3);
        let o = race(&setup, &policy(&setup, Jitter::Full), 1, &mut rng);
        assert_eq!(o.calls, 1);
        assert!(o.completion >= Duration::from_millis(9) && o.completion <= Duration::from_millis(11));
    }

    #[test]
    fn chart_has_both_panels_and_a_legend() {
        let setup = Setup::default();
        let results = simulate(&setup, &[10, 20], 1, 1);
        let chart = svg(&results, &setup, 1, 1);
        assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
        assert_eq!(chart.matches("<polyline").count(), 8);
        for (_, name) in KINDS {
            assert!(chart.contains(&format!(">{name}</text>")), "legend lacks {name}");
        }
        assert!(chart.contains("number of clients N"));
    }
}
