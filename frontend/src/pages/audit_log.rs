//! Information › Audit log: who changed what, from where, and how it went; newest
//! first, filtered by action and outcome, one page at a time.

use leptos::prelude::*;
use pequod_api::audit::{AuditEntry, AuditOutcome, AuditPage};

use crate::api;
use crate::components::{Pager, async_view};
use crate::format::{page_count, timestamp};
use crate::live::use_live;
use crate::session::authed_resource;

const PER_PAGE: u32 = 20;

#[component]
pub fn AuditLog() -> impl IntoView {
    let page = RwSignal::new(1_u32);
    let action = RwSignal::new(String::new());
    let outcome = RwSignal::new(String::new());
    let live = use_live();
    let entries = authed_resource(move |token| {
        // A failover or a finished job may have added entries.
        live.jobs.track();
        live.cluster.track();
        let page = page.get();
        let action = action.get();
        let outcome = outcome.get();
        async move { api::audit(&token, page, PER_PAGE, action.trim(), &outcome).await }
    });
    view! {
        <section class="page" id="page-audit">
            <h1>"Audit log"</h1>
            <p class="muted">
                "Every change made through the commander or the API, every login and every failover, \
                 with who or what caused it. Passwords and tokens are never recorded."
            </p>
            <div class="card">
                <div class="card-actions audit-filters">
                    <label>
                        "Action starts with "
                        <input
                            type="search"
                            id="audit-action"
                            placeholder="e.g. failover, login, DELETE"
                            prop:value=move || action.get()
                            on:change=move |ev| {
                                page.set(1);
                                action.set(event_target_value(&ev));
                            }
                        />
                    </label>
                    <label>
                        "Outcome "
                        <select
                            id="audit-outcome"
                            on:change=move |ev| {
                                page.set(1);
                                outcome.set(event_target_value(&ev));
                            }
                        >
                            <option value="">"any"</option>
                            <option value="success">"success"</option>
                            <option value="failure">"failure"</option>
                        </select>
                    </label>
                    <button type="button" id="audit-refresh" on:click=move |_| entries.refetch()>
                        "Refresh"
                    </button>
                </div>
                {async_view(entries, move |list| audit_page_view(list, page))}
            </div>
        </section>
    }
}

fn audit_page_view(entries: AuditPage, page: RwSignal<u32>) -> impl IntoView {
    let pages = page_count(entries.total, entries.per_page);
    let current = u64::from(entries.page);
    let list = if entries.items.is_empty() {
        view! { <p class="empty">"No entries."</p> }.into_any()
    } else {
        view! {
            <div class="table-wrap">
                <table id="audit" class="table">
                    <thead>
                        <tr>
                            <th>"Time"</th>
                            <th>"User"</th>
                            <th>"Client"</th>
                            <th>"Action"</th>
                            <th>"Target"</th>
                            <th>"Outcome"</th>
                        </tr>
                    </thead>
                    <tbody>{entries.items.into_iter().map(audit_row).collect_view()}</tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! {
        {list}
        <Pager
            id="audit"
            page
            current
            pages
            summary=format!(
                "({} {})",
                entries.total,
                if entries.total == 1 { "entry" } else { "entries" },
            )
        />
    }
}

fn audit_row(entry: AuditEntry) -> impl IntoView {
    let (class, word) = match entry.outcome {
        AuditOutcome::Success => ("state state-ok", "success"),
        AuditOutcome::Failure => ("state state-bad", "failure"),
    };
    let outcome = match entry.status {
        Some(status) => format!("{word} ({status})"),
        None => word.to_owned(),
    };
    view! {
        <tr data-audit-id=entry.id>
            <td data-label="Time">{timestamp(&entry.at)}</td>
            <td data-label="User">
                {match (entry.user, &entry.client) {
                    (Some(user), _) => view! { <span>{user}</span> }.into_any(),
                    (None, None) => view! { <span class="muted">"the node itself"</span> }.into_any(),
                    (None, Some(_)) => view! { <span class="muted">"no valid token"</span> }.into_any(),
                }}
            </td>
            <td data-label="Client">{entry.client.unwrap_or_default()}</td>
            <td data-label="Action">
                <code>{entry.action}</code>
                {entry.detail.map(|d| view! { <div class="audit-detail">{d}</div> })}
            </td>
            <td data-label="Target">{entry.target}</td>
            <td data-label="Outcome"><span class=class>{outcome}</span></td>
        </tr>
    }
}
