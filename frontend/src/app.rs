//! The app shell: the login page while there is no token, otherwise the header, the
//! navigation and the routed page.

use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;

use pequod_api::jobs::{JobPage, JobState};
use pequod_api::users::Role;

use crate::api;
use crate::format::{job_state_class, lamp_class, lamp_label};
use crate::live::{Live, use_live};
use crate::pages::NotFound;
use crate::pages::audit_log::AuditLog;
use crate::pages::cluster::ClusterManagement;
use crate::pages::dashboard::Dashboard;
use crate::pages::interfaces::Interfaces;
use crate::pages::job_log::{JobDetail, JobLog};
use crate::pages::login::LoginPage;
use crate::pages::password::ChangePassword;
use crate::pages::service_status::ServiceStatus;
use crate::pages::services::Services;
use crate::pages::users::Users;
use crate::session::{Access, Session, authed_resource, use_access, use_session};

#[component]
pub fn App() -> impl IntoView {
    let session = Session::restore();
    provide_context(session);
    view! {
        <Router>
            <Show when=move || session.is_logged_in() fallback=|| view! { <LoginPage/> }>
                <Shell/>
            </Show>
        </Router>
    }
}

#[component]
fn Shell() -> impl IntoView {
    let live = Live::new();
    provide_context(live);
    // The stream follows the token: a password change ends the old one's stream, and
    // the new token the change returned opens the next.
    let session = use_session();
    Effect::new(move || {
        if let Some(token) = session.token() {
            live.connect(&token);
        }
    });
    let access = Access::new(session);
    provide_context(access);
    view! {
        <div class="shell">
            <a class="skip-link" href="#content">"Skip to content"</a>
            <Header/>
            <nav id="nav" class="nav" aria-label="Main">
                <ul>
                    <li><A href="/" exact=true>"Dashboard"</A></li>
                    <li class="nav-group">
                        <span class="nav-group-title">"Appliance"</span>
                        <ul>
                            <li><A href="/appliance/interfaces">"Network interfaces"</A></li>
                            <li><A href="/appliance/services">"Services"</A></li>
                            <li><A href="/appliance/cluster">"Cluster Management"</A></li>
                            <li><A href="/appliance/password">"Password"</A></li>
                            {move || access.allows(Role::Admin).then(|| view! {
                                <li><A href="/appliance/users">"Users"</A></li>
                            })}
                        </ul>
                    </li>
                    <li class="nav-group">
                        <span class="nav-group-title">"Information"</span>
                        <ul>
                            <li><A href="/information/status">"Service Status"</A></li>
                            <li><A href="/information/jobs">"Job log"</A></li>
                            <li><A href="/information/audit">"Audit log"</A></li>
                        </ul>
                    </li>
                </ul>
            </nav>
            <main id="content" class="content" tabindex="-1">
                <JobBox/>
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=Dashboard/>
                    <Route path=path!("/appliance/interfaces") view=Interfaces/>
                    <Route path=path!("/appliance/services") view=Services/>
                    <Route path=path!("/appliance/cluster") view=ClusterManagement/>
                    <Route path=path!("/appliance/password") view=ChangePassword/>
                    <Route path=path!("/appliance/users") view=Users/>
                    <Route path=path!("/information/status") view=ServiceStatus/>
                    <Route path=path!("/information/jobs") view=JobLog/>
                    <Route path=path!("/information/jobs/:id") view=JobDetail/>
                    <Route path=path!("/information/audit") view=AuditLog/>
                </Routes>
            </main>
        </div>
    }
}

#[component]
fn Header() -> impl IntoView {
    let session = use_session();
    let access = use_access();
    let live = use_live();
    let node = authed_resource(move |token| {
        live.cluster.track();
        async move { api::node_self(&token).await }
    });
    view! {
        <header class="header">
            <span class="brand">"Pequod commander"</span>
            <span class="header-node" id="header-node">
                {move || match node.get() {
                    None => view! { <span class="muted">"…"</span> }.into_any(),
                    Some(Err(error)) => {
                        view! { <span class="error-inline" title=error.message()>"node unknown"</span> }
                            .into_any()
                    }
                    Some(Ok(node)) => {
                        view! {
                            <span id="header-hostname">{node.hostname.to_string()}</span>
                            " "
                            <span id="header-role" class=format!("badge role-{}", node.role.as_str())>
                                {node.role.as_str()}
                            </span>
                        }
                            .into_any()
                    }
                }}
            </span>
            {move || match access.me() {
                Some(Ok(me)) => {
                    let title = format!("Logged in as {}, role {}", me.username, me.role);
                    view! {
                        <span class="header-user" id="header-user" title=title>
                            {format!("{} · {}", me.username, me.role)}
                        </span>
                    }
                    .into_any()
                }
                _ => ().into_any(),
            }}
            <button type="button" id="logout" class="logout" on:click=move |_| session.log_out()>
                "Log out"
            </button>
        </header>
    }
}

/// The job log box on every page: the status lamp (a link to Service Status, as in the
/// seed) and the latest jobs, a failed one standing out until it is acknowledged.
#[component]
fn JobBox() -> impl IntoView {
    let live = use_live();
    let cluster = authed_resource(move |token| {
        live.track_all();
        async move { api::cluster(&token).await }
    });
    let jobs = authed_resource(move |token| {
        live.jobs.track();
        async move { api::jobs(&token, 1, 3).await }
    });
    view! {
        <aside class="jobbox" id="jobbox" aria-label="Job log and status lamp">
            <A href="/information/status" attr:class="jobbox-lamp" attr:title="Open Service Status">
                {move || match cluster.get() {
                    Some(Ok(c)) => view! {
                        <span id="header-lamp" class=format!("lamp {}", lamp_class(c.lamp))
                            role="img" aria-label=format!("status lamp: {}; open Service Status", lamp_label(c.lamp))></span>
                        <span class="jobbox-lamp-label">{format!("Status: {}", lamp_label(c.lamp))}</span>
                    }.into_any(),
                    Some(Err(e)) => view! {
                        <span id="header-lamp" class="lamp lamp-unknown" role="img" aria-label="status lamp: unknown"></span>
                        <span class="jobbox-lamp-label error-text">{e.message()}</span>
                    }.into_any(),
                    None => view! { <span id="header-lamp" class="lamp lamp-unknown" role="img" aria-label="status lamp: loading"></span> }.into_any(),
                }}
            </A>
            <div class="jobbox-jobs">
                {move || match jobs.get() {
                    Some(Ok(page)) => recent_jobs(page).into_any(),
                    Some(Err(e)) => view! { <span class="error-text">{e.message()}</span> }.into_any(),
                    None => view! { <span class="muted">"…"</span> }.into_any(),
                }}
            </div>
        </aside>
    }
}

fn recent_jobs(page: JobPage) -> impl IntoView {
    if page.items.is_empty() {
        return view! { <span class="muted">"No jobs yet."</span> }.into_any();
    }
    view! {
        <ul class="jobbox-list">
            {page.items.into_iter().map(|job| {
                let unacknowledged = job.state == JobState::Failed && !job.acknowledged;
                view! {
                    <li class:job-unacknowledged=unacknowledged>
                        <A href=format!("/information/jobs/{}", job.id)>{job.kind.title()}</A>
                        " "
                        <span class=format!("state {}", job_state_class(job.state))>{job.state.as_str()}</span>
                        {(!job.state.is_finished()).then(|| format!(" {}%", job.progress))}
                    </li>
                }
            }).collect_view()}
        </ul>
        <A href="/information/jobs" attr:class="jobbox-more">"Job log"</A>
    }
    .into_any()
}
