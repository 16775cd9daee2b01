//! A labelled form field with its error right below it, linked for screen readers.

use leptos::prelude::*;

/// The error line of field `id`; empty when there is none.
#[component]
pub fn FieldError(#[prop(into)] id: String, error: Signal<Option<String>>) -> impl IntoView {
    let error_id = format!("{id}-error");
    move || {
        error.get().map(|message| {
            view! { <p class="field-error" id=error_id.clone() role="alert">{message}</p> }
        })
    }
}

/// A text input with label, optional hint and error.
#[component]
pub fn TextField(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    value: RwSignal<String>,
    error: Signal<Option<String>>,
    #[prop(optional, into)] hint: Option<String>,
    #[prop(optional, into)] placeholder: Option<String>,
) -> impl IntoView {
    let input = Input {
        kind: "text",
        autocomplete: "off",
        placeholder: placeholder.unwrap_or_default(),
    };
    labelled_input(id, label, value, error, hint, input)
}

/// A password input with label and error; `autocomplete` tells a password manager
/// whether it is the current or a new password.
#[component]
pub fn PasswordField(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    value: RwSignal<String>,
    error: Signal<Option<String>>,
    autocomplete: &'static str,
    #[prop(optional, into)] hint: Option<String>,
) -> impl IntoView {
    let input = Input {
        kind: "password",
        autocomplete,
        placeholder: String::new(),
    };
    labelled_input(id, label, value, error, hint, input)
}

/// What differs between the kinds of field: the input's type, autocomplete and
/// placeholder.
struct Input {
    kind: &'static str,
    autocomplete: &'static str,
    placeholder: String,
}

fn labelled_input(
    id: String,
    label: String,
    value: RwSignal<String>,
    error: Signal<Option<String>>,
    hint: Option<String>,
    input: Input,
) -> impl IntoView {
    let error_id = format!("{id}-error");
    view! {
        <div class="field" class:field-invalid=move || error.with(Option::is_some)>
            <label for=id.clone()>{label}</label>
            <input
                id=id.clone()
                name=id.clone()
                type=input.kind
                autocomplete=input.autocomplete
                placeholder=input.placeholder
                aria-invalid=move || if error.with(Option::is_some) { "true" } else { "false" }
                aria-describedby=error_id
                bind:value=value
            />
            {hint.map(|hint| view! { <p class="hint">{hint}</p> })}
            <FieldError id=id error=error/>
        </div>
    }
}
