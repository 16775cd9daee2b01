//! One module per page of the commander.

pub mod audit_log;
pub mod cluster;
pub mod dashboard;
pub mod interfaces;
pub mod job_log;
pub mod login;
pub mod password;
pub mod service_status;
pub mod services;
pub mod users;

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section class="page" id="page-not-found">
            <h1>"Page not found"</h1>
            <p>"The commander has no page at this address. " <A href="/">"Back to the dashboard"</A></p>
        </section>
    }
}
