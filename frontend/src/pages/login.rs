//! The login form. A failed login shows the server's own words (wrong password, too many
//! failed logins), a successful one stores the token and the shell appears.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use pequod_api::auth::LoginRequest;

use crate::api;
use crate::session::use_session;

pub const DEFAULT_USERNAME: &str = "admin";

#[component]
pub fn LoginPage() -> impl IntoView {
    let session = use_session();
    let username = RwSignal::new(DEFAULT_USERNAME.to_owned());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let pending = RwSignal::new(false);

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let request = LoginRequest {
            username: username.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
        };
        pending.set(true);
        error.set(None);
        spawn_local(async move {
            let result = api::login(&request).await;
            pending.set(false);
            match result {
                Ok(response) => session.log_in(response.token),
                Err(e) => {
                    password.set(String::new());
                    error.set(Some(e.message()));
                }
            }
        });
    };

    view! {
        <main class="login-page">
            <form id="login-form" class="login-card" on:submit=submit>
                <h1>"Pequod commander"</h1>
                {move || {
                    session.notice().map(|notice| view! { <p id="login-notice" class="notice">{notice}</p> })
                }}
                <label for="login-username">"User name"</label>
                <input
                    id="login-username"
                    name="username"
                    type="text"
                    autocomplete="username"
                    required=true
                    bind:value=username
                />
                <label for="login-password">"Password"</label>
                <input
                    id="login-password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required=true
                    autofocus=true
                    bind:value=password
                />
                {move || error.get().map(|message| view! { <p id="login-error" class="error" role="alert">{message}</p> })}
                <button id="login-submit" type="submit" disabled=move || pending.get()>
                    {move || if pending.get() { "Logging in…" } else { "Log in" }}
                </button>
            </form>
        </main>
    }
}
