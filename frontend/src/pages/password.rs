//! Appliance › Password: change one's own password. The current one is required; once
//! changed, every other session and script token of the user ends, and this session
//! goes on with the new token the server returns.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use pequod_api::auth::{PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, PasswordChange};

use crate::api;
use crate::components::PasswordField;
use crate::session::use_session;
use crate::validation::FieldErrors;

#[component]
pub fn ChangePassword() -> impl IntoView {
    let session = use_session();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let errors = RwSignal::new(FieldErrors::default());
    let message = RwSignal::new(None::<Result<String, String>>);
    let pending = RwSignal::new(false);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let body = PasswordChange {
            current_password: current.get_untracked(),
            new_password: new.get_untracked(),
        };
        let mut found = FieldErrors::from(body.check());
        if body.current_password.is_empty() {
            found.push("current_password", "is needed to change it");
        }
        if found.get("new_password").is_none() && repeat.get_untracked() != body.new_password {
            found.push("repeat_password", "differs from the new password");
        }
        message.set(None);
        let is_empty = found.is_empty();
        errors.set(found);
        let Some(token) = session.token_untracked().filter(|_| is_empty) else {
            return;
        };
        pending.set(true);
        spawn_local(async move {
            let result = session.guard(api::change_password(&token, &body).await);
            pending.set(false);
            match result {
                Ok(login) => {
                    session.log_in(login.token);
                    current.set(String::new());
                    new.set(String::new());
                    repeat.set(String::new());
                    message.set(Some(Ok(
                        "The password is changed. Every other session and token of this user has ended."
                            .to_owned(),
                    )));
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
        <section class="page" id="page-password">
            <h1>"Password"</h1>
            <div class="card">
                <h2>"Change my password"</h2>
                <p class="muted">
                    "Changing it logs this user out everywhere else: other browsers and every script using one of its tokens."
                </p>
                <form id="password-form" on:submit=submit novalidate=true>
                    <PasswordField
                        id="current-password"
                        label="Current password"
                        value=current
                        autocomplete="current-password"
                        error=Signal::derive(move || errors.with(|e| e.get("current_password")))
                    />
                    <PasswordField
                        id="new-password"
                        label="New password"
                        value=new
                        autocomplete="new-password"
                        hint=format!("{PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters.")
                        error=Signal::derive(move || errors.with(|e| e.get("new_password")))
                    />
                    <PasswordField
                        id="repeat-password"
                        label="New password again"
                        value=repeat
                        autocomplete="new-password"
                        error=Signal::derive(move || errors.with(|e| e.get("repeat_password")))
                    />
                    <button type="submit" id="password-save" disabled=move || pending.get()>
                        {move || if pending.get() { "Changing…" } else { "Change password" }}
                    </button>
                    {move || message.get().map(|m| match m {
                        Ok(text) => view! { <p class="success" id="password-message" role="status">{text}</p> }.into_any(),
                        Err(text) => view! { <p class="error" id="password-message" role="alert">{text}</p> }.into_any(),
                    })}
                </form>
            </div>
        </section>
    }
}
