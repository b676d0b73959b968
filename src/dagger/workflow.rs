//! The workflow: N pipelines of M steps, the pipelines concurrently, each one's steps in order.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::adapter::DaggerAdapter;
use super::error::DaggerError;

/// The shape of a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowSpec {
    /// Pipelines, all run at once.
    pub pipelines: usize,
    /// Steps per pipeline, run one after another.
    pub steps: usize,
    /// The image every step starts from.
    pub image: String,
}

impl Default for WorkflowSpec {
    /// 50 pipelines of 8 steps on `alpine:3.20`.
    fn default() -> Self {
        WorkflowSpec { pipelines: 50, steps: 8, image: "alpine:3.20".into() }
    }
}

impl WorkflowSpec {
    /// The command of step `step` of pipeline `pipeline`: an `echo` whose output names both.
    pub fn command(pipeline: usize, step: usize) -> Vec<String> {
        vec!["echo".into(), format!("pipeline {pipeline} step {step}")]
    }

    /// What that command must print.
    pub fn expected_stdout(pipeline: usize, step: usize) -> String {
        format!("pipeline {pipeline} step {step}\n")
    }

    /// Steps in all pipelines together.
    pub fn total_steps(&self) -> u64 {
        (self.pipelines as u64).saturating_mul(self.steps as u64)
    }
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The adapter's call failed (after whatever retries its error allowed).
    #[error(transparent)]
    Dagger(#[from] DaggerError),
    /// The engine answered, with the wrong output.
    #[error("step printed {got:?}, expected {expected:?}")]
    WrongOutput {
        /// What the step should have printed.
        expected: String,
        /// What it printed.
        got: String,
    },
}

impl StepError {
    /// A short name for tables: the adapter error's kind, or `WrongOutput`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            StepError::Dagger(e) => retry_runtime::Classify::kind(e).as_str(),
            StepError::WrongOutput { .. } => "WrongOutput",
        }
    }
}

/// How one pipeline ended.
#[derive(Debug)]
pub struct PipelineResult {
    /// The pipeline's number, from 0.
    pub index: usize,
    /// Steps that succeeded.
    pub steps_done: usize,
    /// The failed step's error; `None` if every step succeeded.
    pub error: Option<StepError>,
}

impl PipelineResult {
    /// Whether every step succeeded.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// What a whole workflow did.
#[derive(Debug)]
pub struct WorkflowReport {
    /// The workflow that ran.
    pub spec: WorkflowSpec,
    /// Every pipeline, in index order.
    pub pipelines: Vec<PipelineResult>,
    /// From the start of the first pipeline to the end of the last one, on tokio's clock.
    pub wall_time: Duration,
}

impl WorkflowReport {
    /// Pipelines whose every step succeeded.
    pub fn succeeded(&self) -> usize {
        self.pipelines.iter().filter(|p| p.ok()).count()
    }

    /// Pipelines that stopped at a failed step.
    pub fn failed(&self) -> usize {
        self.pipelines.len() - self.succeeded()
    }
}

/// Progress of a running workflow, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A step succeeded.
    StepDone,
    /// A step failed; its pipeline stops, leaving `skipped` steps unrun.
    PipelineFailed {
        /// Steps of the pipeline that will not run.
        skipped: usize,
    },
}

/// Runs every pipeline of `spec` concurrently through `adapter`; `on_progress` hears of every
/// step.
pub async fn run_workflow(
    adapter: Arc<DaggerAdapter>,
    spec: &WorkflowSpec,
    on_progress: impl Fn(Progress) + Send + Sync + 'static,
) -> WorkflowReport {
    let on_progress = Arc::new(on_progress);
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for index in 0..spec.pipelines {
        let (adapter, on_progress, spec) = (adapter.clone(), on_progress.clone(), spec.clone());
        tasks.spawn(async move { run_pipeline(&adapter, &spec, index, &*on_progress).await });
    }
    let mut pipelines = Vec::with_capacity(spec.pipelines);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(result) => pipelines.push(result),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => unreachable!("pipeline tasks are never cancelled: {e}"),
        }
    }
    pipelines.sort_by_key(|p| p.index);
    WorkflowReport { spec: spec.clone(), pipelines, wall_time: start.elapsed() }
}

async fn run_pipeline(
    adapter: &DaggerAdapter,
    spec: &WorkflowSpec,
    index: usize,
    on_progress: &(impl Fn(Progress) + ?Sized),
) -> PipelineResult {
    for step in 0..spec.steps {
        let result = adapter.exec(&spec.image, &WorkflowSpec::command(index, step)).await;
        let error = match result {
            Ok(stdout) if stdout == WorkflowSpec::expected_stdout(index, step) => None,
            Ok(got) => {
                Some(StepError::WrongOutput { expected: WorkflowSpec::expected_stdout(index, step), got })
            }
            Err(e) => Some(StepError::Dagger(e)),
        };
        if let Some(error) = error {
            on_progress(Progress::PipelineFailed { skipped: spec.steps - step - 1 });
            return PipelineResult { index, steps_done: step, error: Some(error) };
        }
        on_progress(Progress::StepDone);
    }
    PipelineResult { index, steps_done: spec.steps, error: None }
}
