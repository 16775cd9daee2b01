//! Pieces shared by the pages: the loading and error states every API call needs, the
//! copy-to-clipboard button, form fields and the listings' pager.

mod copy_button;
mod field;
mod job_progress;
mod pager;

use leptos::prelude::*;

use crate::api::ApiError;

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
