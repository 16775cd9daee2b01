//! Live updates: one `EventSource` on `/api/v1/events` per session. Each event kind bumps
//! a counter; resources that read a counter refetch when it moves, so pages follow the
//! cluster without a refresh button. A reconnect or a `lagged` notice bumps them all,
//! since events may have been missed.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Event, EventSource};

use crate::api;

#[derive(Debug, Clone, Copy)]
pub struct Live {
    pub jobs: RwSignal<u64>,
    pub checks: RwSignal<u64>,
    pub cluster: RwSignal<u64>,
}

impl Live {
    pub fn new() -> Self {
        Self {
            jobs: RwSignal::new(0),
            checks: RwSignal::new(0),
            cluster: RwSignal::new(0),
        }
    }

    /// Reads (and so tracks) every counter: for views that depend on all of them, like
    /// the lamp (checks, failed jobs and the cluster all colour it).
    pub fn track_all(&self) {
        self.jobs.track();
        self.checks.track();
        self.cluster.track();
    }

    /// After a change this commander made itself (a new host name), so every view
    /// reloads even when the server sends no event for it.
    pub fn bump_all(&self) {
        for signal in [self.jobs, self.checks, self.cluster] {
            signal.update(|n| *n = n.wrapping_add(1));
        }
    }

    /// Opens the event stream; it is closed when the calling owner is cleaned up (log out)
    /// and whenever the page is hidden: a stream left open by a page the browser keeps
    /// in its back/forward cache holds one of the six connections Chromium allows per
    /// server, and a few reloads would then starve the page of connections. Chromium
    /// also counts a stream opened before `load` as part of the page load, so it opens
    /// on `pageshow` (after `load`, and again when the page comes back from the cache).
    pub fn connect(self, token: &str) {
        let url = api::events_url(token);
        let current: Rc<RefCell<Option<EventSource>>> = Rc::default();
        // False once the session's view is gone (log out): its listeners stay on the
        // window but must not open a stream any more.
        let alive = Rc::new(Cell::new(true));
        let open = {
            let (current, alive) = (current.clone(), alive.clone());
            move || {
                if !alive.get() || current.borrow().is_some() {
                    return;
                }
                if let Ok(source) = EventSource::new(&url) {
                    self.listen_all(&source);
                    *current.borrow_mut() = Some(source);
                }
            }
        };
        let close = {
            let current = current.clone();
            move || {
                if let Some(source) = current.borrow_mut().take() {
                    source.close();
                }
            }
        };
        let Some(window) = web_sys::window() else {
            return;
        };
        if window
            .document()
            .is_some_and(|d| d.ready_state() == "complete")
        {
            open();
        }
        on_window(&window, "pageshow", open);
        on_window(&window, "pagehide", close.clone());
        let end = send_wrapper::SendWrapper::new(move || {
            alive.set(false);
            close();
        });
        on_cleanup(move || (*end)());
    }

    fn listen_all(self, source: &EventSource) {
        for (name, signal) in [
            ("job", self.jobs),
            ("check", self.checks),
            ("cluster", self.cluster),
        ] {
            listen(source, name, move || {
                signal.update(|n| *n = n.wrapping_add(1));
            });
        }
        for name in ["open", "lagged"] {
            listen(source, name, move || self.bump_all());
        }
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

/// Window listeners live as long as the page.
fn on_window(window: &web_sys::Window, name: &str, handler: impl Fn() + 'static) {
    let callback = Closure::<dyn FnMut(Event)>::new(move |_: Event| handler());
    if window
        .add_event_listener_with_callback(name, callback.as_ref().unchecked_ref())
        .is_ok()
    {
        callback.forget();
    }
}

fn listen(source: &EventSource, name: &str, mut handler: impl FnMut() + 'static) {
    let callback = Closure::<dyn FnMut(Event)>::new(move |_: Event| handler());
    if source
        .add_event_listener_with_callback(name, callback.as_ref().unchecked_ref())
        .is_ok()
    {
        // The stream lives as long as the session; so do its listeners.
        callback.forget();
    }
}

pub fn use_live() -> Live {
    use_context::<Live>().unwrap_or_default()
}
