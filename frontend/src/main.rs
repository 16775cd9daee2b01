//! The commander: Pequod's web UI, a Leptos client-side app compiled to WASM and served
//! as static files by `pequod` itself.

mod api;
mod app;
mod components;
mod format;
mod live;
mod pages;
mod session;
mod validation;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
