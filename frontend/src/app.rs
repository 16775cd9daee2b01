//! The app shell: the login page while there is no token, otherwise the header, the
//! navigation and the routed page.

use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;

use crate::api;
use crate::pages::NotFound;
use crate::pages::dashboard::Dashboard;
use crate::pages::interfaces::Interfaces;
use crate::pages::job_log::{JobDetail, JobLog};
use crate::pages::login::LoginPage;
use crate::session::{Session, authed_resource, use_session};

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
    view! {
        <div class="shell">
            <Header/>
            <nav id="nav" class="nav" aria-label="Main">
                <ul>
                    <li><A href="/" exact=true>"Dashboard"</A></li>
                    <li class="nav-group">
                        <span class="nav-group-title">"Appliance"</span>
                        <ul>
                            <li><A href="/appliance/interfaces">"Network interfaces"</A></li>
                        </ul>
                    </li>
                    <li class="nav-group">
                        <span class="nav-group-title">"Information"</span>
                        <ul>
                            <li><A href="/information/jobs">"Job log"</A></li>
                        </ul>
                    </li>
                </ul>
            </nav>
            <main id="content" class="content">
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=Dashboard/>
                    <Route path=path!("/appliance/interfaces") view=Interfaces/>
                    <Route path=path!("/information/jobs") view=JobLog/>
                    <Route path=path!("/information/jobs/:id") view=JobDetail/>
                </Routes>
            </main>
        </div>
    }
}

#[component]
fn Header() -> impl IntoView {
    let session = use_session();
    let node = authed_resource(|token| async move { api::node_self(&token).await });
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
            <button type="button" id="logout" class="logout" on:click=move |_| session.log_out()>
                "Log out"
            </button>
        </header>
    }
}
