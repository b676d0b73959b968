//! The main job: run a workflow of Dagger pipelines through the retrying adapter, against a real
//! Dagger session if the environment has one, else against the simulated, fault-injecting engine.
//!
//! ```text
//! cargo run --release --example dagger_pipeline -- [--pipelines N] [--steps M]
//!     [--faults MIX] [--seed N] [--json] [--dashboard [ADDR]]
//! ```
//!
//! With `DAGGER_SESSION_PORT` and `DAGGER_SESSION_TOKEN` set (as `dagger run` sets them), the steps
//! go to that engine and `--faults`/`--seed` do not apply. Otherwise an engine starts in-process
//! on `127.0.0.1`, injecting the `--faults` mix drawn from `--seed`. The run ends with a summary
//! table, or with `--json` one JSON object on stdout. `--dashboard` serves the live dashboard of
//! retry events (default `127.0.0.1:9870`) during the run and until Ctrl-C after it. The exit status is 0 when the workflow ran,
//! however many pipelines failed; 2 for bad arguments; 1 when the run could not start.

use std::error::Error;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use retry_runtime::dashboard::{Dashboard, DashboardBuilder};
use retry_runtime::testkit::{FaultMix, FaultPlan};
use retry_workspace::dagger::{
    DaggerAdapter, Endpoint, Progress, SimulatedEngine, Summary, WorkflowSpec, run_workflow,
};

/// About 30 % of attempts fail transiently, plus 5 % slow answers.
const DEFAULT_FAULTS: &str = "drop=0.05,hang=0.02,429=0.05,503=0.10,500=0.08,slow=0.05";
const DEFAULT_SEED: u64 = 7;

/// The simulated engine's `Retry-After`: short, so the demo stays quick.
const SIMULATED_RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long a simulated slow answer takes: well inside the attempt timeout.
const SIMULATED_SLOW: Duration = Duration::from_millis(500);
/// The simulated engine answers in microseconds, so an attempt still waiting after 2 s is hung.
const SIMULATED_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

const USAGE: &str = "\
usage: dagger_pipeline [--pipelines N] [--steps M] [--faults MIX] [--seed N] [--json] [--dashboard [ADDR]]

  --pipelines N   pipelines to run concurrently (default 50)
  --steps M       steps per pipeline, run in order (default 8)
  --faults MIX    the simulated engine's fault rates, e.g. drop=0.05,hang=0.02,429=0.05,503=0.1
                  (keys: drop, hang, 429, 503, 500, 400, slow; default
                  drop=0.05,hang=0.02,429=0.05,503=0.10,500=0.08,slow=0.05)
  --seed N        seed of the simulated engine's faults (default 7)
  --json          print the summary as one JSON object, and no progress bar
  --dashboard [ADDR]
                  serve the live dashboard of retry events at ADDR (default 127.0.0.1:9870)
                  during the run, and after it until Ctrl-C

With DAGGER_SESSION_PORT and DAGGER_SESSION_TOKEN set, the steps go to that Dagger session.";

#[derive(Debug)]
struct Args {
    spec: WorkflowSpec,
    faults: FaultMix,
    faults_given: bool,
    seed: u64,
    seed_given: bool,
    json: bool,
    dashboard: Option<SocketAddr>,
}

enum ArgsError {
    Help,
    Bad(String),
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, ArgsError> {
    let mut parsed = Args {
        spec: WorkflowSpec::default(),
        faults: DEFAULT_FAULTS.parse().expect("the default mix parses"),
        faults_given: false,
        seed: DEFAULT_SEED,
        seed_given: false,
        json: false,
        dashboard: None,
    };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, ArgsError> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| ArgsError::Bad(format!("{name} needs a value")))
        };
        match flag.as_str() {
            "-h" | "--help" => return Err(ArgsError::Help),
            "--json" => parsed.json = true,
            "--dashboard" => {
                let addr = match inline.clone() {
                    Some(addr) => Some(addr),
                    None => args.next_if(|next| !next.starts_with("--")),
                };
                parsed.dashboard = Some(match addr {
                    Some(addr) => addr.parse().map_err(|_| {
                        ArgsError::Bad(format!(
                            "--dashboard expects an address such as 127.0.0.1:9870, not `{addr}`"
                        ))
                    })?,
                    None => DashboardBuilder::DEFAULT_ADDR,
                });
            }
            "--pipelines" => parsed.spec.pipelines = number(&flag, &value(&flag)?)?,
            "--steps" => parsed.spec.steps = number(&flag, &value(&flag)?)?,
            "--seed" => {
                parsed.seed = number(&flag, &value(&flag)?)?;
                parsed.seed_given = true;
            }
            "--faults" => {
                let text = value(&flag)?;
                parsed.faults = text.parse().map_err(|e| ArgsError::Bad(format!("--faults: {e}")))?;
                parsed.faults_given = true;
            }
            other => return Err(ArgsError::Bad(format!("unknown argument `{other}`"))),
        }
    }
    Ok(parsed)
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, ArgsError> {
    text.parse().map_err(|_| ArgsError::Bad(format!("{flag} expects a whole number, not `{text}`")))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(ArgsError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(ArgsError::Bad(message)) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprint!("error: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                eprint!(": {cause}");
                source = cause.source();
            }
            eprintln!();
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let dashboard = match args.dashboard {
        Some(addr) => {
            let dashboard = Dashboard::start(addr).await?;
            eprintln!("dashboard at {}", dashboard.url());
            Some(dashboard)
        }
        None => None,
    };
    let (adapter, engine, name) = match Endpoint::from_env()? {
        Some(endpoint) => {
            if args.faults_given || args.seed_given {
                eprintln!("note: --faults and --seed apply to the simulated engine only");
            }
            let name = endpoint.base_url().to_owned();
            (DaggerAdapter::builder(endpoint).build()?, None, name)
        }
        None => {
            let plan = FaultPlan::mix(args.faults, args.seed)?
                .retry_after(SIMULATED_RETRY_AFTER)
                .slow_delay(SIMULATED_SLOW);
            let engine = SimulatedEngine::start(plan).await?;
            let policy = DaggerAdapter::default_policy()
                .to_builder()
                .attempt_timeout(SIMULATED_ATTEMPT_TIMEOUT)
                .build()?;
            let adapter = DaggerAdapter::builder(engine.endpoint()).policy(policy).build()?;
            (adapter, Some(engine), "simulated".to_owned())
        }
    };
    let adapter = Arc::new(adapter);

    let bar = ProgressBar::with_draw_target(
        Some(args.spec.total_steps()),
        if args.json || !std::io::stdout().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stdout()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} steps {msg}")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    let on_progress = {
        let bar = bar.clone();
        move |progress| match progress {
            Progress::StepDone => bar.inc(1),
            Progress::PipelineFailed { skipped } => {
                bar.inc(1 + skipped as u64);
                let failed = bar.message().split(' ').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
                bar.set_message(format!("{} failed", failed + 1));
            }
        }
    };
    let report = run_workflow(adapter.clone(), &args.spec, on_progress).await;
    bar.finish_and_clear();

    let mut summary = Summary::new(&report, &adapter.counters().snapshot(), name);
    if engine.is_some() {
        summary = summary.with_faults(args.faults.to_string(), args.seed);
    }
    if args.json {
        println!("{}", summary.to_json());
    } else {
        print!("{summary}");
    }
    if let Some(dashboard) = dashboard {
        eprintln!("dashboard still at {}: press Ctrl-C to stop", dashboard.url());
        tokio::signal::ctrl_c().await?;
        dashboard.shutdown().await;
    }
    if let Some(engine) = engine {
        engine.shutdown().await;
    }
    Ok(())
}
