//! Copies a text (an SSH public key) to the clipboard. The Clipboard API only exists in
//! secure contexts, and an appliance is often reached over plain http on its LAN address,
//! so without it the text is selected for Ctrl+C instead.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CopyState {
    Idle,
    Copied,
    Selected,
    Failed,
}

impl CopyState {
    fn label(self) -> &'static str {
        match self {
            CopyState::Idle => "Copy",
            CopyState::Copied => "Copied",
            CopyState::Selected => "Selected — press Ctrl+C",
            CopyState::Failed => "Copy failed — select the text by hand",
        }
    }
}

#[component]
pub fn CopyButton(
    /// The text to copy.
    #[prop(into)]
    text: String,
    /// Id of the element showing the text, selected when the clipboard is unavailable.
    #[prop(into)]
    target_id: String,
) -> impl IntoView {
    let state = RwSignal::new(CopyState::Idle);
    let copy = move |_| {
        let text = text.clone();
        let target_id = target_id.clone();
        match clipboard() {
            Some(clipboard) => spawn_local(async move {
                let written =
                    wasm_bindgen_futures::JsFuture::from(clipboard.write_text(&text)).await;
                state.set(match written {
                    Ok(_) => CopyState::Copied,
                    Err(_) if select(&target_id) => CopyState::Selected,
                    Err(_) => CopyState::Failed,
                });
            }),
            None if select(&target_id) => state.set(CopyState::Selected),
            None => state.set(CopyState::Failed),
        }
    };
    view! {
        <button type="button" class="copy-button" on:click=copy>
            {move || state.get().label()}
        </button>
    }
}

fn clipboard() -> Option<web_sys::Clipboard> {
    let navigator = web_sys::window()?.navigator();
    // `navigator.clipboard` is undefined outside secure contexts; calling it would throw.
    let present = js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard"))
        .is_ok_and(|value| !value.is_undefined() && !value.is_null());
    present.then(|| navigator.clipboard())
}

fn select(target_id: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let element = window
        .document()
        .and_then(|d| d.get_element_by_id(target_id));
    match (element, window.get_selection().ok().flatten()) {
        (Some(element), Some(selection)) => selection.select_all_children(&element).is_ok(),
        _ => false,
    }
}
