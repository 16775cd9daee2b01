//! Information › Job log: the long operations, newest first, one page at a time, and
//! each job's steps with their log lines.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use pequod_api::jobs::{Job, JobPage, JobState, JobSummary};
use pequod_api::users::Role;

use crate::api::{self, ApiError};
use crate::components::{ErrorMessage, Pager, async_view, step_view};
use crate::format::{job_state_class, page_count, timestamp};
use crate::live::use_live;
use crate::session::{authed_resource, use_access, use_session};

const PER_PAGE: u32 = 20;

#[component]
pub fn JobLog() -> impl IntoView {
    let page = RwSignal::new(1_u32);
    let live = use_live();
    let jobs = authed_resource(move |token| {
        live.jobs.track();
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
                {async_view(jobs, move |list| job_page_view(list, page, jobs))}
            </div>
        </section>
    }
}

fn job_page_view(
    jobs: JobPage,
    page: RwSignal<u32>,
    resource: LocalResource<Result<JobPage, ApiError>>,
) -> impl IntoView {
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
                    <tbody>{jobs.items.into_iter().map(|job| job_row(job, resource)).collect_view()}</tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! {
        {list}
        <Pager id="jobs" page current pages summary=format!("({} jobs)", jobs.total)/>
    }
}

fn job_row(job: JobSummary, resource: LocalResource<Result<JobPage, ApiError>>) -> impl IntoView {
    let href = format!("/information/jobs/{}", job.id);
    let id = job.id;
    let expanded = RwSignal::new(false);
    let unacknowledged = job.state == JobState::Failed && !job.acknowledged;
    view! {
        <tr data-job-id=job.id class:job-unacknowledged=unacknowledged>
            <td data-label="#">{job.id}</td>
            <td data-label="Job">
                <A href=href>{job.kind.title()}</A>
                " "
                <span class="muted">{job.title}</span>
                {job.error.map(|e| view! { <div class="job-error">{e}</div> })}
                <div>
                    <button
                        type="button"
                        class="link-button job-toggle"
                        id=format!("job-toggle-{id}")
                        aria-expanded=move || if expanded.get() { "true" } else { "false" }
                        on:click=move |_| expanded.update(|e| *e = !*e)
                    >
                        {move || if expanded.get() { "Hide steps" } else { "Show steps" }}
                    </button>
                </div>
                {move || expanded.get().then(|| view! { <JobSteps id=id/> })}
            </td>
            <td data-label="State">
                <span class=format!("state {}", job_state_class(job.state))>{job.state.as_str()}</span>
                {unacknowledged.then(|| view! {
                    <span class="badge badge-warn">"not acknowledged"</span>
                    <AcknowledgeButton id=id on_done=move || resource.refetch()/>
                })}
            </td>
            <td data-label="Progress">{format!("{}%", job.progress)}</td>
            <td data-label="Created">{timestamp(&job.created_at)}</td>
            <td data-label="Finished">{job.finished_at.as_ref().map(timestamp).unwrap_or_default()}</td>
        </tr>
    }
}

/// A job's steps and log lines, loaded when its row is expanded.
#[component]
fn JobSteps(id: i64) -> impl IntoView {
    let live = use_live();
    let job = authed_resource(move |token| {
        live.jobs.track();
        async move { api::job(&token, id).await }
    });
    view! {
        <div class="job-steps" id=format!("job-steps-{id}")>
            {async_view(job, |job: Job| view! {
                <ol class="steps">{job.steps.into_iter().map(step_view).collect_view()}</ol>
            })}
        </div>
    }
}

/// Marks a failed job as seen, so it no longer turns the lamp yellow; only for operators
/// and admins.
#[component]
fn AcknowledgeButton(id: i64, on_done: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let session = use_session();
    let access = use_access();
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let acknowledge = move |_| {
        let Some(token) = session.token_untracked() else {
            return;
        };
        pending.set(true);
        spawn_local(async move {
            let result = session.guard(api::acknowledge_job(&token, id).await);
            pending.set(false);
            match result {
                Ok(_) => on_done(),
                Err(e) => error.set(Some(e.message())),
            }
        });
    };
    move || {
        access.allows(Role::Operator).then(|| view! {
            <button type="button" class="acknowledge" id=format!("acknowledge-{id}") disabled=move || pending.get() on:click=acknowledge>
                "Acknowledge"
            </button>
            {move || error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
        })
    }
}

#[component]
pub fn JobDetail() -> impl IntoView {
    let params = use_params_map();
    let live = use_live();
    let job = authed_resource(move |token| {
        live.jobs.track();
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
            {async_view(job, move |j| job_view(j, job))}
        </section>
    }
}

fn job_view(job: Job, resource: LocalResource<Result<Job, ApiError>>) -> impl IntoView {
    let summary = job.summary;
    let unacknowledged = summary.state == JobState::Failed && !summary.acknowledged;
    let id = summary.id;
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
            {unacknowledged.then(|| view! { <AcknowledgeButton id=id on_done=move || resource.refetch()/> })}
        </div>
        <div class="card">
            <h2>"Steps"</h2>
            <ol class="steps">{job.steps.into_iter().map(step_view).collect_view()}</ol>
        </div>
    }
}
