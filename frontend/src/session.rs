//! The logged-in session: the bearer token, kept in `sessionStorage` so a reload does not
//! log the person out but closing the tab does, the rule that any 401 ends it, and who
//! the token belongs to ([`Access`]), so pages offer only what its role may do.

use std::future::Future;

use leptos::prelude::*;
use pequod_api::auth::Me;
use pequod_api::users::Role;

use crate::api::{self, ApiError};

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

/// Who is logged in, as `GET /auth/me` answers for the session's token; fetched again
/// whenever the token changes. Shared through context by the shell.
///
/// Until the answer is in, the role counts as viewer: a page then shows no action rather
/// than one the server would refuse. The server stays the authority; this only spares a
/// person buttons that cannot work for them.
#[derive(Clone, Copy)]
pub struct Access {
    me: LocalResource<Result<Me, ApiError>>,
    /// The role once known; a memo, so views asking about it are not rebuilt when a new
    /// token (after a password change) brings the same answer again.
    role: Memo<Option<Role>>,
}

impl Access {
    pub fn new(session: Session) -> Self {
        let me = LocalResource::new(move || {
            let token = session.token();
            async move {
                // No token: logged out, the shell is going away; nothing to report.
                let Some(token) = token else {
                    return Err(ApiError::Network("logged out".to_owned()));
                };
                session.guard(api::me(&token).await)
            }
        });
        let role = Memo::new(move |_| match me.get() {
            Some(Ok(me)) => Some(me.role),
            _ => None,
        });
        Self { me, role }
    }

    /// The answer of `/auth/me`, tracked; none while it is on its way.
    pub fn me(&self) -> Option<Result<Me, ApiError>> {
        self.me.get()
    }

    /// The logged-in role once known, tracked.
    pub fn known_role(&self) -> Option<Role> {
        self.role.get()
    }

    /// Asks again, after a change that may have touched the logged-in user's role.
    pub fn refetch(&self) {
        self.me.refetch();
    }

    /// The logged-in role, tracked; viewer until it is known.
    pub fn role(&self) -> Role {
        self.role.get().unwrap_or(Role::Viewer)
    }

    /// Whether the logged-in role may do what `needed` may; false until it is known.
    pub fn allows(&self, needed: Role) -> bool {
        self.role().allows(needed)
    }

    /// Whether the role is known and falls short of `needed`: for the line that stands
    /// in for a form, which must not flash up before the role is known.
    pub fn refuses(&self, needed: Role) -> bool {
        self.known_role().is_some_and(|role| !role.allows(needed))
    }
}

pub fn use_access() -> Access {
    // The shell provides it before any page renders.
    use_context::<Access>().unwrap_or_else(|| Access::new(use_session()))
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
