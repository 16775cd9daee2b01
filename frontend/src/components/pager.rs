//! "Newer" / "Older" below a listing, with where in it the person is.

use leptos::prelude::*;

/// The pager of a listing whose element ids start with `id` (`{id}-prev`, `{id}-page`,
/// `{id}-next`); `summary` follows "Page N of M", e.g. "(12 jobs)".
#[component]
pub fn Pager(
    id: &'static str,
    page: RwSignal<u32>,
    current: u64,
    pages: u64,
    #[prop(into)] summary: String,
) -> impl IntoView {
    view! {
        <div class="pager">
            <button
                type="button"
                id=format!("{id}-prev")
                disabled={current <= 1}
                on:click=move |_| page.update(|p| *p = p.saturating_sub(1).max(1))
            >
                "Newer"
            </button>
            <span id=format!("{id}-page")>{format!("Page {current} of {pages} {summary}")}</span>
            <button
                type="button"
                id=format!("{id}-next")
                disabled={current >= pages}
                on:click=move |_| page.update(|p| *p = p.saturating_add(1))
            >
                "Older"
            </button>
        </div>
    }
}
