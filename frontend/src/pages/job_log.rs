//! Information › Job log: the long operations, newest first, one page at a time, and
//! each job's steps with their log lines.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use pequod_api::jobs::{Job, JobPage, JobState, JobStep, JobSummary};

use crate::api::{self, ApiError};
use crate::components::{ErrorMessage, async_view};
use crate::format::{job_state_class, page_count, step_state_label, timestamp};
use crate::session::authed_resource;

const PER_PAGE: u32 = 20;

#[component]
pub fn JobLog() -> impl IntoView {
    let page = RwSignal::new(1_u32);
    let jobs = authed_resource(move |token| {
        // Read while the resource tracks, so turning the page refetches.
        let page = page.get();
        async move { api::jobs(&token, page, PER_PAGE).await }
    });
    view! {
        <section class="page" id="page-jobs">
            <h1>"Job log"</h1>
            <div class="card">
                <div class="card-actions">
                    <button type="button" id="jobs-refresh" on:click=move |_| jobs.refetch()>
                        "Refresh"
                    </button>
                </div>
                {async_view(jobs, move |jobs| job_page_view(jobs, page))}
            </div>
        </section>
    }
}

fn job_page_view(jobs: JobPage, page: RwSignal<u32>) -> impl IntoView {
    let pages = page_count(jobs.total, jobs.per_page);
    let current = u64::from(jobs.page);
    let list = if jobs.items.is_empty() {
        view! { <p class="empty">"No jobs yet."</p> }.into_any()
    } else {
        view! {
            <div class="table-wrap">
                <table id="jobs" class="table">
                    <thead>
                        <tr>
                            <th>"#"</th>
                            <th>"Job"</th>
                            <th>"State"</th>
                            <th>"Progress"</th>
                            <th>"Created"</th>
                            <th>"Finished"</th>
                        </tr>
                    </thead>
                    <tbody>{jobs.items.into_iter().map(job_row).collect_view()}</tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! {
        {list}
        <div class="pager">
            <button
                type="button"
                id="jobs-prev"
                disabled={current <= 1}
                on:click=move |_| page.update(|p| *p = p.saturating_sub(1).max(1))
            >
                "Newer"
            </button>
            <span id="jobs-page">{format!("Page {current} of {pages} ({} jobs)", jobs.total)}</span>
            <button
                type="button"
                id="jobs-next"
                disabled={current >= pages}
                on:click=move |_| page.update(|p| *p = p.saturating_add(1))
            >
                "Older"
            </button>
        </div>
    }
}

fn job_row(job: JobSummary) -> impl IntoView {
    let href = format!("/information/jobs/{}", job.id);
    view! {
        <tr data-job-id=job.id>
            <td data-label="#">{job.id}</td>
            <td data-label="Job">
                <A href=href>{job.kind.title()}</A>
                " "
                <span class="muted">{job.title}</span>
                {job.error.map(|e| view! { <div class="job-error">{e}</div> })}
            </td>
            <td data-label="State">
                <span class=format!("state {}", job_state_class(job.state))>{job.state.as_str()}</span>
                {(job.state == JobState::Failed && !job.acknowledged)
                    .then(|| view! { <span class="badge badge-warn">"not acknowledged"</span> })}
            </td>
            <td data-label="Progress">{format!("{}%", job.progress)}</td>
            <td data-label="Created">{timestamp(&job.created_at)}</td>
            <td data-label="Finished">{job.finished_at.as_ref().map(timestamp).unwrap_or_default()}</td>
        </tr>
    }
}

#[component]
pub fn JobDetail() -> impl IntoView {
    let params = use_params_map();
    let job = authed_resource(move |token| {
        let id = params
            .with(|p| p.get("id"))
            .and_then(|id| id.parse::<i64>().ok());
        async move {
            match id {
                Some(id) => api::job(&token, id).await,
                None => Err(ApiError::Decode(
                    "the address names no job number".to_owned(),
                )),
            }
        }
    });
    view! {
        <section class="page" id="page-job">
            <p><A href="/information/jobs">"← Job log"</A></p>
            {async_view(job, job_view)}
        </section>
    }
}

fn job_view(job: Job) -> impl IntoView {
    let summary = job.summary;
    view! {
        <h1>{format!("Job {}: {}", summary.id, summary.kind.title())}</h1>
        <div class="card">
            <dl class="facts">
                <dt>"About"</dt>
                <dd>{summary.title}</dd>
                <dt>"State"</dt>
                <dd>
                    <span id="job-state" class=format!("state {}", job_state_class(summary.state))>
                        {summary.state.as_str()}
                    </span>
                </dd>
                <dt>"Progress"</dt>
                <dd>{format!("{}%", summary.progress)}</dd>
                <dt>"Created"</dt>
                <dd>{timestamp(&summary.created_at)}</dd>
                <dt>"Started"</dt>
                <dd>{summary.started_at.as_ref().map(timestamp).unwrap_or_else(|| "—".to_owned())}</dd>
                <dt>"Finished"</dt>
                <dd>{summary.finished_at.as_ref().map(timestamp).unwrap_or_else(|| "—".to_owned())}</dd>
            </dl>
            {summary.error.map(|e| view! { <ErrorMessage message=e/> })}
        </div>
        <div class="card">
            <h2>"Steps"</h2>
            <ol class="steps">{job.steps.into_iter().map(step_view).collect_view()}</ol>
        </div>
    }
}

fn step_view(step: JobStep) -> impl IntoView {
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
