//! Information › Service Status: every check this node runs, colour-coded by state, with
//! its output, where it runs, whether it moves services (failover) or only informs
//! (notify), when it last ran and last changed; filters and "run now". Live. A check
//! with nothing to judge on this node reads "not configured", not UNKNOWN.

use leptos::prelude::*;
use leptos::task::spawn_local;
use pequod_api::checks::{Check, CheckKind, CheckState};
use pequod_api::users::Role;

use crate::api;
use crate::components::async_view;
use crate::format::{
    check_kind_label, check_state_class, check_state_label, runs_on_label, timestamp,
};
use crate::live::use_live;
use crate::session::{authed_resource, use_access, use_session};

const STATES: [CheckState; 4] = [
    CheckState::Ok,
    CheckState::Warning,
    CheckState::Critical,
    CheckState::Unknown,
];
const KINDS: [CheckKind; 2] = [CheckKind::Failover, CheckKind::Notify];

#[component]
pub fn ServiceStatus() -> impl IntoView {
    let live = use_live();
    let state_filter = RwSignal::new(String::new());
    let kind_filter = RwSignal::new(String::new());
    let checks = authed_resource(move |token| {
        live.checks.track();
        let state = STATES
            .into_iter()
            .find(|s| check_state_label(*s) == state_filter.get());
        let kind = KINDS
            .into_iter()
            .find(|k| check_kind_label(*k) == kind_filter.get());
        async move { api::checks(&token, state, kind).await }
    });
    view! {
        <section class="page" id="page-status">
            <h1>"Service Status"</h1>
            <div class="card">
                <div class="filters">
                    <div class="field">
                        <label for="filter-state">"State"</label>
                        <select id="filter-state" on:change=move |ev| state_filter.set(event_target_value(&ev))>
                            <option value="">"all"</option>
                            {STATES
                                .into_iter()
                                .map(|s| view! { <option value=check_state_label(s)>{check_state_label(s)}</option> })
                                .collect_view()}
                        </select>
                    </div>
                    <div class="field">
                        <label for="filter-kind">"Kind"</label>
                        <select id="filter-kind" on:change=move |ev| kind_filter.set(event_target_value(&ev))>
                            <option value="">"all"</option>
                            {KINDS
                                .into_iter()
                                .map(|k| view! { <option value=check_kind_label(k)>{check_kind_label(k)}</option> })
                                .collect_view()}
                        </select>
                    </div>
                </div>
                {async_view(checks, move |list| checks_view(list, checks))}
            </div>
        </section>
    }
}

fn checks_view(
    checks: Vec<Check>,
    resource: LocalResource<Result<Vec<Check>, api::ApiError>>,
) -> impl IntoView {
    if checks.is_empty() {
        return view! { <p class="empty" id="checks-empty">"No checks match."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table id="checks" class="table">
                <thead>
                    <tr>
                        <th>"Check"</th>
                        <th>"State"</th>
                        <th>"Output"</th>
                        <th>"Runs on"</th>
                        <th>"Kind"</th>
                        <th>"Last check"</th>
                        <th>"Last change"</th>
                        <th><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>{checks.into_iter().map(|c| check_row(c, resource)).collect_view()}</tbody>
            </table>
        </div>
    }
    .into_any()
}

fn check_row(
    check: Check,
    resource: LocalResource<Result<Vec<Check>, api::ApiError>>,
) -> impl IntoView {
    let session = use_session();
    let access = use_access();
    let running = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let id = check.id.clone();
    let run = move |_| {
        let Some(token) = session.token_untracked() else {
            return;
        };
        let id = id.clone();
        running.set(true);
        error.set(None);
        spawn_local(async move {
            let result = session.guard(api::run_check(&token, &id).await);
            running.set(false);
            match result {
                Ok(_) => resource.refetch(),
                Err(e) => error.set(Some(e.message())),
            }
        });
    };
    let state = check.state;
    let soft = (!check.hard && state != CheckState::Ok).then_some(" (unconfirmed)");
    let (label, class) = state_shown(&check);
    let (button_id, name) = (check.id.clone(), check.name.clone());
    view! {
        <tr data-check=check.id.clone() class=format!("check-row {class}")>
            <td data-label="Check"><strong>{check.name.clone()}</strong></td>
            <td data-label="State">
                <span class=format!("check-state {class}")>{label}</span>
                {soft.map(|s| view! { <span class="muted">{s}</span> })}
            </td>
            <td data-label="Output" class="check-output">{check.output}</td>
            <td data-label="Runs on">{runs_on_label(check.runs_on)}</td>
            <td data-label="Kind">{check_kind_label(check.kind)}</td>
            <td data-label="Last check">{check.last_check.as_ref().map(timestamp).unwrap_or_else(|| "never".to_owned())}</td>
            <td data-label="Last change">{check.last_change.as_ref().map(timestamp).unwrap_or_else(|| "—".to_owned())}</td>
            <td data-label="">
                {move || access.allows(Role::Operator).then(|| {
                    let run = run.clone();
                    view! {
                        <button
                            type="button"
                            class="run-now"
                            id=format!("run-{button_id}")
                            aria-label=format!("Run {name} now")
                            disabled=move || running.get()
                            on:click=run
                        >
                            {move || if running.get() { "Running…" } else { "Run now" }}
                        </button>
                    }
                })}
                {move || error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
            </td>
        </tr>
    }
}

/// The state's label and CSS class; "not configured" is no state of its own on the
/// wire (it is UNKNOWN with `configured: false`) but reads as one.
fn state_shown(check: &Check) -> (&'static str, &'static str) {
    if check.configured {
        (
            check_state_label(check.state),
            check_state_class(check.state),
        )
    } else {
        ("not configured", "check-not-configured")
    }
}
