//! A job followed live: its state, progress bar, steps and log lines, refreshed on every
//! job event (and once a second as a fallback) until it has ended.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::components::A;
use pequod_api::jobs::{Job, JobState, JobStep};

use crate::api;
use crate::components::async_view;
use crate::format::{job_state_class, step_state_label, timestamp};
use crate::live::use_live;
use crate::session::authed_resource;

const FALLBACK_POLL: Duration = Duration::from_secs(1);

#[component]
pub fn JobProgress(job_id: i64) -> impl IntoView {
    let live = use_live();
    let job = authed_resource(move |token| {
        live.jobs.track();
        async move { api::job(&token, job_id).await }
    });
    if let Ok(handle) = set_interval_with_handle(
        move || {
            let finished = job
                .get_untracked()
                .and_then(|r| r.ok())
                .is_some_and(|j| j.summary.state.is_finished());
            if !finished {
                job.refetch();
            }
        },
        FALLBACK_POLL,
    ) {
        on_cleanup(move || handle.clear());
    }
    view! {
        <div class="job-progress" id="job-progress" aria-live="polite">
            {async_view(job, job_progress_view)}
        </div>
    }
}

fn job_progress_view(job: Job) -> impl IntoView {
    let summary = job.summary;
    let state = summary.state;
    let message = match state {
        JobState::Queued => "Waiting to start…",
        JobState::Running => "Running…",
        JobState::Succeeded => "Done.",
        JobState::Failed => "The job failed.",
        JobState::Interrupted => "The job was interrupted.",
    };
    view! {
        <h3>
            {summary.kind.title()} " "
            <span id="job-progress-state" class=format!("state {}", job_state_class(state)) data-state=state.as_str()>
                {state.as_str()}
            </span>
        </h3>
        <p class="muted">{summary.title} " — " {message}</p>
        <progress id="job-progress-bar" max="100" value=summary.progress.to_string()>{format!("{}%", summary.progress)}</progress>
        {summary.error.map(|e| view! { <p class="error" role="alert" id="job-progress-error">{e}</p> })}
        <ol class="steps">{job.steps.into_iter().map(step_view).collect_view()}</ol>
        <p><A href=format!("/information/jobs/{}", summary.id)>"Open in the job log"</A></p>
    }
}

/// One step with its log lines; shared with the job log.
pub fn step_view(step: JobStep) -> impl IntoView {
    let state = step_state_label(step.state);
    view! {
        <li class=format!("step step-{state}")>
            <div class="step-head">
                <strong>{step.name}</strong>
                " "
                <span class="muted">{state}</span>
            </div>
            {(!step.log.is_empty())
                .then(|| {
                    view! {
                        <pre class="step-log">
                            {step
                                .log
                                .into_iter()
                                .map(|line| format!("{}  {}\n", timestamp(&line.at), line.message))
                                .collect::<String>()}
                        </pre>
                    }
                })}
        </li>
    }
}
