//! Pieces shared by the pages: the loading and error states every API call needs, the
//! copy-to-clipboard button, form fields, the listings' pager and the line that stands in
//! for what the logged-in role may not do.

mod copy_button;
mod field;
mod job_progress;
mod pager;

use leptos::prelude::*;
use pequod_api::users::Role;

use crate::api::ApiError;
use crate::session::use_access;

pub use copy_button::CopyButton;
pub use field::{FieldError, PasswordField, TextField};
pub use job_progress::{JobProgress, step_view};
pub use pager::Pager;

#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="loading" aria-busy="true">"Loading…"</p> }
}

#[component]
pub fn ErrorMessage(#[prop(into)] message: String) -> impl IntoView {
    view! { <p class="error" role="alert">{message}</p> }
}

/// Renders a resource's three states: loading, the API's error message, or its value.
/// While a refetch runs the last value stays on screen, so polling does not flicker.
pub fn async_view<T, V>(
    resource: LocalResource<Result<T, ApiError>>,
    render: impl Fn(T) -> V + Send + 'static,
) -> impl IntoView
where
    T: Clone + 'static,
    V: IntoView + 'static,
{
    move || match resource.get() {
        None => view! { <Loading/> }.into_any(),
        Some(Err(error)) => view! { <ErrorMessage message=error.message()/> }.into_any(),
        Some(Ok(value)) => render(value).into_any(),
    }
}

/// Stands in for a form or an action the logged-in role may not use: says who may.
/// Shows nothing until the role is known, so it never flashes up for an admin.
#[component]
pub fn RoleNote(
    needed: Role,
    #[prop(into)] id: String,
    #[prop(into)] text: String,
) -> impl IntoView {
    let access = use_access();
    move || {
        access.refuses(needed).then(|| {
            view! { <p class="notice role-note" id=id.clone() role="note">{text.clone()}</p> }
        })
    }
}
