//! Appliance › Services: this node's host name (the two nodes' names must differ), the
//! notification e-mail address with a test mail, and the managed services with their
//! state. Only an admin may change the name and the address; others see them.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use pequod_api::nodes::NodePatch;
use pequod_api::notifications::{Mail, MailState, Notifications, NotificationsPatch};
use pequod_api::services::ManagedService;
use pequod_api::users::Role;

use crate::api;
use crate::components::{RoleNote, TextField, async_view};
use crate::format::{mail_state_label, service_state_class, service_state_label, timestamp};
use crate::live::use_live;
use crate::session::{authed_resource, use_access, use_session};
use crate::validation::{self, FieldErrors};

#[component]
pub fn Services() -> impl IntoView {
    view! {
        <section class="page" id="page-services">
            <h1>"Services"</h1>
            <HostnameCard/>
            <NotificationsCard/>
            <ManagedServicesCard/>
        </section>
    }
}

#[component]
fn HostnameCard() -> impl IntoView {
    let session = use_session();
    let access = use_access();
    let live = use_live();
    let node = authed_resource(|token| async move { api::node_self(&token).await });
    let hostname = RwSignal::new(String::new());
    let errors = RwSignal::new(FieldErrors::default());
    let message = RwSignal::new(None::<Result<String, String>>);
    let pending = RwSignal::new(false);
    // Fill the field once the current name is known, without overwriting typing.
    Effect::new(move || {
        if let Some(Ok(node)) = node.get()
            && hostname.get_untracked().is_empty()
        {
            hostname.set(node.hostname.to_string());
        }
    });
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let mut found = FieldErrors::default();
        let parsed = validation::hostname(&mut found, "hostname", &hostname.get_untracked());
        errors.set(found);
        message.set(None);
        let (Some(parsed), Some(token)) = (parsed, session.token_untracked()) else {
            return;
        };
        pending.set(true);
        spawn_local(async move {
            let body = NodePatch {
                hostname: Some(parsed),
            };
            let result = session.guard(api::patch_node_self(&token, &body).await);
            pending.set(false);
            match result {
                Ok(node) => {
                    live.bump_all();
                    hostname.set(node.hostname.to_string());
                    message.set(Some(Ok(format!("The host name is now {}.", node.hostname))));
                }
                Err(e) => {
                    let (fields, other) = e.field_errors();
                    errors.set(fields);
                    message.set(other.map(Err));
                }
            }
        });
    };
    view! {
        <div class="card" id="hostname-card">
            <h2>"Host name"</h2>
            <p class="notice" role="note">
                <strong>"Warning: "</strong>
                "the host names of the two nodes must not be identical (e.g. node1 and node2). "
                "Set it before the node joins a cluster: it cannot change while the cluster is active."
            </p>
            {move || if access.allows(Role::Admin) {
                view! {
                    <form id="hostname-form" on:submit=submit novalidate=true>
                        <TextField
                            id="hostname"
                            label="Host name"
                            value=hostname
                            error=Signal::derive(move || errors.with(|e| e.get("hostname")))
                        />
                        <button type="submit" id="hostname-save" disabled=move || pending.get()>"Save"</button>
                        {move || message.get().map(|m| match m {
                            Ok(text) => view! { <p class="success" id="hostname-message" role="status">{text}</p> }.into_any(),
                            Err(text) => view! { <p class="error" id="hostname-message" role="alert">{text}</p> }.into_any(),
                        })}
                    </form>
                }
                .into_any()
            } else {
                view! {
                    <dl class="facts">
                        <dt>"Host name"</dt>
                        <dd id="hostname-current">{move || hostname.get()}</dd>
                    </dl>
                }
                .into_any()
            }}
            <RoleNote needed=Role::Admin id="hostname-admin-only" text="Only an admin can change this."/>
        </div>
    }
}

#[component]
fn NotificationsCard() -> impl IntoView {
    let session = use_session();
    let access = use_access();
    let notifications = authed_resource(|token| async move { api::notifications(&token).await });
    let email = RwSignal::new(String::new());
    let errors = RwSignal::new(FieldErrors::default());
    let message = RwSignal::new(None::<Result<String, String>>);
    let test_result = RwSignal::new(None::<Result<Mail, String>>);
    let pending = RwSignal::new(false);
    Effect::new(move || {
        if let Some(Ok(n)) = notifications.get()
            && email.get_untracked().is_empty()
        {
            email.set(n.email.unwrap_or_default());
        }
    });
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let mut found = FieldErrors::default();
        let address = validation::email(&mut found, "email", &email.get_untracked());
        errors.set(found);
        message.set(None);
        let (Some(address), Some(token)) = (address, session.token_untracked()) else {
            return;
        };
        pending.set(true);
        spawn_local(async move {
            let body = NotificationsPatch {
                email: address.into(),
            };
            let result = session.guard(api::patch_notifications(&token, &body).await);
            pending.set(false);
            match result {
                Ok(_) => {
                    message.set(Some(Ok("Saved.".to_owned())));
                    notifications.refetch();
                }
                Err(e) => {
                    let (fields, other) = e.field_errors();
                    errors.set(fields);
                    message.set(other.map(Err));
                }
            }
        });
    };
    let send_test = move |_| {
        let Some(token) = session.token_untracked() else {
            return;
        };
        pending.set(true);
        test_result.set(None);
        spawn_local(async move {
            let result = session.guard(api::test_notification(&token).await);
            pending.set(false);
            test_result.set(Some(result.map_err(|e| e.message())));
            notifications.refetch();
        });
    };
    view! {
        <div class="card" id="notifications-card">
            <h2>"Notification e-mail"</h2>
            <p class="muted">"Failover events and failed services are reported to this address."</p>
            {move || if access.allows(Role::Admin) {
                view! {
                    <form id="notifications-form" on:submit=submit novalidate=true>
                        <TextField
                            id="notification-email"
                            label="E-mail for notification"
                            value=email
                            placeholder="pbx-admin@example.net"
                            error=Signal::derive(move || errors.with(|e| e.get("email")))
                        />
                        <div class="button-row">
                            <button type="submit" id="notification-save" disabled=move || pending.get()>"Save"</button>
                            <button type="button" id="notification-test" class="secondary" disabled=move || pending.get() on:click=send_test>
                                "Send test mail"
                            </button>
                        </div>
                        {move || message.get().map(|m| match m {
                            Ok(text) => view! { <p class="success" id="notification-message" role="status">{text}</p> }.into_any(),
                            Err(text) => view! { <p class="error" id="notification-message" role="alert">{text}</p> }.into_any(),
                        })}
                        {move || test_result.get().map(|r| match r {
                            Ok(mail) => {
                                let class = match mail.state {
                                    MailState::Sent => "success",
                                    MailState::Queued => "notice",
                                    MailState::Failed => "error",
                                };
                                let text = format!(
                                    "Test mail to {}: {}{}",
                                    mail.to,
                                    mail_state_label(mail.state),
                                    mail.last_error.map(|e| format!(" ({e})")).unwrap_or_default()
                                );
                                view! { <p id="notification-test-result" role="status" class=class>{text}</p> }.into_any()
                            }
                            Err(text) => view! { <p class="error" id="notification-test-result" role="alert">{text}</p> }.into_any(),
                        })}
                    </form>
                }
                .into_any()
            } else {
                view! {
                    <dl class="facts">
                        <dt>"E-mail for notification"</dt>
                        <dd id="notification-email-current">
                            {move || match email.get() {
                                address if address.is_empty() => "not set".to_owned(),
                                address => address,
                            }}
                        </dd>
                    </dl>
                }
                .into_any()
            }}
            <RoleNote needed=Role::Admin id="notifications-admin-only" text="Only an admin can change this or send a test mail."/>
            {async_view(notifications, notifications_view)}
        </div>
    }
}

fn notifications_view(n: Notifications) -> impl IntoView {
    view! {
        <dl class="facts notification-facts">
            <dt>"Mail server"</dt>
            <dd>{n.smtp_server.unwrap_or_else(|| "not configured".to_owned())}</dd>
            <dt>"Sent / queued / failed"</dt>
            <dd id="notification-counts">{format!("{} / {} / {}", n.sent, n.queued, n.failed)}</dd>
        </dl>
        {(!n.recent.is_empty()).then(|| view! {
            <h3>"Recent mails"</h3>
            <ul class="mail-list">
                {n.recent.into_iter().map(|m| view! {
                    <li>
                        {timestamp(&m.created_at)} " — " {m.subject} " → " {m.to} " "
                        <span class="badge">{mail_state_label(m.state)}</span>
                        {m.last_error.map(|e| view! { <span class="job-error">" "{e}</span> })}
                    </li>
                }).collect_view()}
            </ul>
        })}
    }
}

#[component]
fn ManagedServicesCard() -> impl IntoView {
    let live = use_live();
    let services = authed_resource(move |token| {
        live.cluster.track();
        live.checks.track();
        async move { api::services(&token).await }
    });
    view! {
        <div class="card" id="managed-services">
            <h2>"Managed services"</h2>
            <p class="muted">"Started in this order on the master, stopped on the other node."</p>
            {async_view(services, services_view)}
        </div>
    }
}

fn services_view(services: Vec<ManagedService>) -> impl IntoView {
    if services.is_empty() {
        return view! { <p class="empty" id="services-empty">"No managed services are configured."</p> }
            .into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" id="services">
                <thead><tr><th>"Service"</th><th>"State"</th><th>"Wanted"</th><th>"Runs"</th></tr></thead>
                <tbody>
                    {services.into_iter().map(|s| {
                        let name = s.name.clone();
                        view! {
                        <tr data-service=name>
                            <td data-label="Service"><strong>{s.name}</strong></td>
                            <td data-label="State">
                                <span class=format!("state {}", service_state_class(s.state, s.expected_running))>
                                    {service_state_label(s.state)}
                                </span>
                            </td>
                            <td data-label="Wanted">{if s.expected_running { "running" } else { "stopped" }}</td>
                            <td data-label="Runs"><code>{s.runs}</code></td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
