//! Live updates: one `EventSource` on `/api/v1/events` per session. Each event kind bumps
//! a counter; resources that read a counter refetch when it moves, so pages follow the
//! cluster without a refresh button. A reconnect or a `lagged` notice bumps them all,
//! since events may have been missed.

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

    fn bump_all(&self) {
        for signal in [self.jobs, self.checks, self.cluster] {
            signal.update(|n| *n = n.wrapping_add(1));
        }
    }

    /// Opens the event stream; it is closed when the calling owner is cleaned up (log out).
    pub fn connect(self, token: &str) {
        let Ok(source) = EventSource::new(&api::events_url(token)) else {
            return;
        };
        for (name, signal) in [
            ("job", self.jobs),
            ("check", self.checks),
            ("cluster", self.cluster),
        ] {
            listen(&source, name, move || {
                signal.update(|n| *n = n.wrapping_add(1));
            });
        }
        for name in ["open", "lagged"] {
            listen(&source, name, move || self.bump_all());
        }
        let source = send_wrapper::SendWrapper::new(source);
        on_cleanup(move || source.close());
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
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
