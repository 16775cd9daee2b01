//! The job runner. Long operations run as persisted jobs, one at a time, in the order
//! they were submitted; each change of state, step, progress or log is written to the
//! store and published on the event bus so the UI follows along.

use std::future::Future;
use std::sync::Arc;

use chrono::Utc;
use pequod_api::events::Event;
use pequod_api::jobs::{Job, JobKind, JobState, JobSummary, LogLine, StepState};
use tokio::sync::Mutex;

use crate::events::{DomainEvent, EventBus};
use crate::storage::{StorageError, Store};

#[derive(Clone)]
pub struct JobRunner {
    store: Arc<dyn Store>,
    events: EventBus,
    /// Held by the running job: the cluster must never run two long actions at once.
    turn: Arc<Mutex<()>>,
}

impl JobRunner {
    pub fn new(store: Arc<dyn Store>, events: EventBus) -> Self {
        Self {
            store,
            events,
            turn: Arc::new(Mutex::new(())),
        }
    }

    /// Marks jobs that were queued or running when the process last stopped as
    /// interrupted; their running step failed, the rest were skipped.
    #[tracing::instrument(skip(self))]
    pub async fn interrupt_leftovers(&self) -> Result<usize, StorageError> {
        let leftovers = self.store.unfinished_jobs().await?;
        for mut job in leftovers.iter().cloned() {
            end_unfinished_steps(&mut job, "pequod stopped while this step ran");
            job.summary.state = JobState::Interrupted;
            job.summary.finished_at = Some(Utc::now());
            job.summary.error = Some("pequod stopped before the job ended".into());
            self.store.save_job(&job).await?;
            tracing::warn!(
                job = job.summary.id,
                kind = job.summary.kind.as_str(),
                "job interrupted by a restart"
            );
        }
        Ok(leftovers.len())
    }

    /// Records something that already happened (a failover, a step-down) as a finished
    /// job with one step, so the job log and the event stream show it. It does not wait
    /// for the queue: a takeover never waits behind a long job.
    pub async fn record(
        &self,
        kind: JobKind,
        title: &str,
        log: Vec<String>,
        error: Option<String>,
    ) -> Result<JobSummary, StorageError> {
        let mut job = self
            .store
            .create_job(kind, title, &[title.to_string()])
            .await?;
        let now = Utc::now();
        if let Some(step) = job.steps.first_mut() {
            step.state = if error.is_some() {
                StepState::Failed
            } else {
                StepState::Succeeded
            };
            step.log = log
                .into_iter()
                .map(|message| LogLine { at: now, message })
                .collect();
        }
        job.summary.state = if error.is_some() {
            JobState::Failed
        } else {
            JobState::Succeeded
        };
        job.summary.progress = 100;
        job.summary.started_at = Some(now);
        job.summary.finished_at = Some(now);
        job.summary.error = error;
        self.store.save_job(&job).await?;
        self.events.publish(Event::Job(job.summary.clone()));
        Ok(job.summary)
    }

    /// Stores a new job and runs `work` once the jobs before it have ended. Returns
    /// the queued job at once.
    pub async fn submit<F, Fut>(
        &self,
        kind: JobKind,
        title: impl Into<String>,
        steps: &[&str],
        work: F,
    ) -> Result<JobSummary, StorageError>
    where
        F: FnOnce(JobContext) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let steps: Vec<String> = steps.iter().map(|s| (*s).to_string()).collect();
        let job = self.store.create_job(kind, &title.into(), &steps).await?;
        let summary = job.summary.clone();
        self.events.publish(Event::Job(summary.clone()));
        let runner = self.clone();
        tokio::spawn(async move {
            let turn = runner.turn.clone();
            let _turn = turn.lock().await;
            let ctx = JobContext {
                job: Arc::new(Mutex::new(job)),
                store: runner.store.clone(),
                events: runner.events.clone(),
            };
            ctx.update(|job| {
                job.summary.state = JobState::Running;
                job.summary.started_at = Some(Utc::now());
            })
            .await;
            match work(ctx.clone()).await {
                Ok(()) => ctx.update(finish_ok).await,
                Err(err) => {
                    let error = format!("{err:#}");
                    let id = ctx.id().await;
                    tracing::warn!(job = id, error, "job failed");
                    ctx.update(|job| finish_failed(job, error)).await;
                }
            }
            let finished = ctx.job.lock().await.summary.clone();
            runner
                .events
                .announce(DomainEvent::OperationFinished(finished));
        });
        Ok(summary)
    }
}

/// A running job's handle: moves through the steps, logs, reports progress. Clones
/// share the same job.
#[derive(Clone)]
pub struct JobContext {
    job: Arc<Mutex<Job>>,
    store: Arc<dyn Store>,
    events: EventBus,
}

impl JobContext {
    pub async fn id(&self) -> i64 {
        self.job.lock().await.summary.id
    }

    /// Ends the current step successfully and starts step `index` (0-based).
    pub async fn step(&self, index: usize) {
        self.update(|job| {
            for step in &mut job.steps {
                if step.state == StepState::Running {
                    step.state = StepState::Succeeded;
                }
            }
            if let Some(step) = job.steps.get_mut(index) {
                step.state = StepState::Running;
            }
            let total = job.steps.len().max(1);
            job.summary.progress = u8::try_from(index * 100 / total).unwrap_or(100);
        })
        .await;
    }

    /// Adds a line to the running step's log (or the last step's, between steps).
    pub async fn log(&self, message: impl Into<String>) {
        let line = LogLine {
            at: Utc::now(),
            message: message.into(),
        };
        self.update(|job| {
            let running = job
                .steps
                .iter()
                .rposition(|s| s.state == StepState::Running);
            let index = running.or_else(|| job.steps.len().checked_sub(1));
            if let Some(step) = index.and_then(|i| job.steps.get_mut(i)) {
                step.log.push(line);
            }
        })
        .await;
    }

    /// Applies a change, writes it to the store and tells the subscribers.
    async fn update(&self, change: impl FnOnce(&mut Job)) {
        let mut job = self.job.lock().await;
        change(&mut job);
        if let Err(err) = self.store.save_job(&job).await {
            tracing::error!(job = job.summary.id, error = %err, "could not save job");
        }
        self.events.publish(Event::Job(job.summary.clone()));
    }
}

fn finish_ok(job: &mut Job) {
    for step in &mut job.steps {
        if step.state == StepState::Running {
            step.state = StepState::Succeeded;
        }
    }
    job.summary.state = JobState::Succeeded;
    job.summary.progress = 100;
    job.summary.finished_at = Some(Utc::now());
}

fn finish_failed(job: &mut Job, error: String) {
    end_unfinished_steps(job, &error);
    job.summary.state = JobState::Failed;
    job.summary.finished_at = Some(Utc::now());
    job.summary.error = Some(error);
}

/// The running step failed (with `note` in its log); the pending ones never ran.
fn end_unfinished_steps(job: &mut Job, note: &str) {
    let now = Utc::now();
    for step in &mut job.steps {
        match step.state {
            StepState::Running => {
                step.state = StepState::Failed;
                step.log.push(LogLine {
                    at: now,
                    message: note.to_string(),
                });
            }
            StepState::Pending => step.state = StepState::Skipped,
            StepState::Succeeded | StepState::Failed | StepState::Skipped => {}
        }
    }
}
