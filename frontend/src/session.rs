//! The logged-in session: the bearer token, kept in `sessionStorage` so a reload does not
//! log the person out but closing the tab does, and the rule that any 401 ends it.

use std::future::Future;

use leptos::prelude::*;

use crate::api::ApiError;

/// The `sessionStorage` key holding the bearer token.
pub const TOKEN_KEY: &str = "pequod.token";

/// Shown on the login page after the server refused a token.
pub const EXPIRED_NOTICE: &str = "Your session has ended. Please log in again.";

/// A stored token worth sending: blank values (a cleared field, a hand-edited storage)
/// count as none.
pub fn usable_token(stored: Option<String>) -> Option<String> {
    stored
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
}

/// Shared through context; `Copy` because it only holds signal handles.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    token: RwSignal<Option<String>>,
    /// Why the person is looking at the login page, when it is not the first visit.
    notice: RwSignal<Option<String>>,
}

impl Session {
    /// Picks up the token of an earlier page load in this tab.
    pub fn restore() -> Self {
        let stored = storage().and_then(|s| s.get_item(TOKEN_KEY).ok().flatten());
        Self {
            token: RwSignal::new(usable_token(stored)),
            notice: RwSignal::new(None),
        }
    }

    pub fn is_logged_in(&self) -> bool {
        self.token.with(Option::is_some)
    }

    /// The token, tracked: a view or effect reading it follows a new token.
    pub fn token(&self) -> Option<String> {
        self.token.get()
    }

    pub fn token_untracked(&self) -> Option<String> {
        self.token.get_untracked()
    }

    pub fn notice(&self) -> Option<String> {
        self.notice.get()
    }

    pub fn log_in(&self, token: String) {
        if let Some(storage) = storage() {
            // Without storage the session still works until the page is reloaded.
            let _ = storage.set_item(TOKEN_KEY, &token);
        }
        self.notice.set(None);
        self.token.set(Some(token));
    }

    pub fn log_out(&self) {
        if let Some(storage) = storage() {
            let _ = storage.remove_item(TOKEN_KEY);
        }
        self.token.set(None);
    }

    /// Ends the session when an action's answer is a 401, as `authed_resource` does for
    /// reads; hands the result back for the caller to show.
    // Hands the caller's own result back unchanged; on wasm32 (the real target) the
    // error is small enough, only 64-bit hosts running the unit tests find it large.
    #[allow(clippy::result_large_err)]
    pub fn guard<T>(&self, result: Result<T, ApiError>) -> Result<T, ApiError> {
        if result.as_ref().is_err_and(ApiError::is_unauthorized) {
            self.expire();
        }
        result
    }

    /// The server no longer accepts the token.
    pub fn expire(&self) {
        self.notice.set(Some(EXPIRED_NOTICE.to_owned()));
        self.log_out();
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

pub fn use_session() -> Session {
    // The App provides it before anything else renders; restoring again is harmless.
    use_context::<Session>().unwrap_or_else(Session::restore)
}

/// A resource that calls the API with the session's token and ends the session when the
/// server answers 401, so no page has to remember to.
pub fn authed_resource<T, Fut>(
    call: impl Fn(String) -> Fut + 'static,
) -> LocalResource<Result<T, ApiError>>
where
    T: 'static,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
{
    let session = use_session();
    LocalResource::new(move || {
        let pending = session.token_untracked().map(&call);
        async move {
            let result = match pending {
                Some(pending) => pending.await,
                None => Err(ApiError::Problem(crate::api::problem_from_body(
                    401,
                    "Unauthorized",
                    "",
                ))),
            };
            if result.as_ref().is_err_and(ApiError::is_unauthorized) {
                session.expire();
            }
            result
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_tokens_are_no_tokens() {
        assert_eq!(usable_token(None), None);
        assert_eq!(usable_token(Some(String::new())), None);
        assert_eq!(usable_token(Some("  \n".into())), None);
        assert_eq!(usable_token(Some(" abc ".into())), Some("abc".to_owned()));
    }

    #[test]
    fn the_storage_key_is_namespaced() {
        assert!(TOKEN_KEY.starts_with("pequod."));
    }
}
