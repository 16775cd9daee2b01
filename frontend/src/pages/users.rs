//! Appliance › Users: who may log in and with which role, and the API tokens scripts use
//! instead of a person's login. Admins only. A token's secret is shown once, right after
//! it is created: the server keeps only its hash.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use pequod_api::auth::{PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS};
use pequod_api::users::{
    AccountName, ApiToken, ApiTokenList, CreatedApiToken, NewApiToken, NewUser, Role,
    TOKEN_MAX_DAYS, User, UserList, UserPatch, check_new_password,
};

use crate::api::{self, ApiError};
use crate::components::{
    CopyButton, ErrorMessage, FieldError, Loading, PasswordField, TextField, async_view,
};
use crate::format::{optional_timestamp, timestamp};
use crate::session::{Access, Session, authed_resource, use_access, use_session};
use crate::validation::FieldErrors;

/// A new token's lifetime unless the admin picks another.
const DEFAULT_TOKEN_DAYS: u32 = 90;

/// What a role may do, in a line for the forms' hints.
const ROLES_HINT: &str = "A viewer only looks; an operator also fails over, adds, removes and re-adds the slave, runs checks and acknowledges jobs; an admin also configures the cluster and this node and manages users and tokens.";

/// The outcome of the last action of a card, shown above its table.
type Outcome = RwSignal<Option<Result<String, String>>>;

#[component]
pub fn Users() -> impl IntoView {
    let access = use_access();
    view! {
        <section class="page" id="page-users">
            <h1>"Users"</h1>
            {move || match access.known_role() {
                Some(Role::Admin) => view! { <UsersCard/> <TokensCard/> }.into_any(),
                Some(_) => view! {
                    <p class="notice role-note" id="users-admin-only" role="note">
                        "Only an admin can manage users and API tokens."
                    </p>
                }
                .into_any(),
                None => match access.me() {
                    Some(Err(error)) => view! { <ErrorMessage message=error.message()/> }.into_any(),
                    _ => view! { <Loading/> }.into_any(),
                },
            }}
        </section>
    }
}

/// The message line above a table, for what belongs to no field.
fn outcome_view(id: &'static str, outcome: Outcome) -> impl IntoView {
    move || {
        outcome.get().map(|m| match m {
            Ok(text) => view! { <p class="success" id=id role="status">{text}</p> }.into_any(),
            Err(text) => view! { <p class="error" id=id role="alert">{text}</p> }.into_any(),
        })
    }
}

/// A server error split for a form: field errors for the `fields` it shows, and one
/// message for the rest (errors for fields it does not show included, so none is lost).
fn split_error(error: &ApiError, fields: &[&str]) -> (FieldErrors, Option<String>) {
    let (errors, other) = error.field_errors();
    let mut lines = errors.others(fields);
    lines.extend(other);
    (errors, (!lines.is_empty()).then(|| lines.join("; ")))
}

/// An add form's error: a 409 can only be the name clashing with one there, so it goes
/// under `name_field`; anything else as [`split_error`] places it.
fn add_form_error(
    error: &ApiError,
    name_field: &str,
    fields: &[&str],
) -> (FieldErrors, Option<String>) {
    match error {
        ApiError::Problem(problem) if problem.status == 409 => {
            let mut found = FieldErrors::default();
            found.push(name_field, problem.message());
            (found, None)
        }
        other => split_error(other, fields),
    }
}

/// A destructive action behind an inline confirmation: the `class` button asks, then
/// "Really <verb> <name>?" with `class-confirm` (runs `act`) and `class-cancel`.
fn confirm_step(
    verb: &'static str,
    class: &'static str,
    name: String,
    pending: RwSignal<bool>,
    confirming: RwSignal<bool>,
    act: impl Fn(leptos::ev::MouseEvent) + Clone + 'static,
) -> impl Fn() -> AnyView + 'static {
    move || {
        if confirming.get() {
            view! {
                <span class="confirm-question">
                    {format!("Really {} {name}?", verb.to_lowercase())}
                </span>
                <button type="button" class=format!("danger {class}-confirm")
                    disabled=move || pending.get() on:click=act.clone()>
                    {verb}
                </button>
                <button type="button" class=format!("secondary {class}-cancel")
                    on:click=move |_| confirming.set(false)>
                    "Cancel"
                </button>
            }
            .into_any()
        } else {
            view! {
                <button type="button" class=format!("danger {class}")
                    on:click=move |_| confirming.set(true)>
                    {verb}
                </button>
            }
            .into_any()
        }
    }
}

/// A `<select>` of the three roles, with its error below it.
fn role_select(
    id: String,
    label: &'static str,
    value: RwSignal<String>,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let options = Role::ALL
        .into_iter()
        .map(|role| {
            view! {
                <option value=role.as_str() selected=move || value.get() == role.as_str()>
                    {role.as_str()}
                </option>
            }
        })
        .collect_view();
    view! {
        <div class="field" class:field-invalid=move || error.with(Option::is_some)>
            <label for=id.clone()>{label}</label>
            <select
                id=id.clone()
                name=id.clone()
                aria-describedby=format!("{id}-error")
                on:change=move |ev| value.set(event_target_value(&ev))
            >
                {options}
            </select>
            <FieldError id=id error=error/>
        </div>
    }
}

/// The new password and its repeat, checked by the rule the server applies; the errors
/// land on `password` and `repeat_password`.
fn check_password_pair(password: &str, repeat: &str) -> FieldErrors {
    let mut errors = FieldErrors::from(
        check_new_password("password", password)
            .into_iter()
            .collect::<Vec<_>>(),
    );
    if errors.is_empty() && repeat != password {
        errors.push("repeat_password", "differs from the password");
    }
    errors
}

/// An account name as `AccountName::parse` takes it.
fn account_name(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<AccountName> {
    match AccountName::parse(raw.trim()) {
        Ok(name) => Some(name),
        Err(e) => {
            errors.push(field, e.0);
            None
        }
    }
}

// ---- Users ------------------------------------------------------------------------

#[component]
fn UsersCard() -> impl IntoView {
    let users = authed_resource(|token| async move { api::users(&token).await });
    let outcome: Outcome = RwSignal::new(None);
    view! {
        <div class="card" id="users-card">
            <h2>"Users"</h2>
            <p class="muted">{ROLES_HINT}</p>
            {outcome_view("users-message", outcome)}
            {async_view(users, move |list| users_table(list, users, outcome))}
            <AddUserForm users=users outcome=outcome/>
        </div>
    }
}

fn users_table(
    list: UserList,
    users: LocalResource<Result<UserList, ApiError>>,
    outcome: Outcome,
) -> impl IntoView {
    if list.users.is_empty() {
        return view! { <p class="empty">"No users."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" id="users">
                <thead>
                    <tr>
                        <th>"Name"</th>
                        <th>"Role"</th>
                        <th>"Created"</th>
                        <th><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {list
                        .users
                        .into_iter()
                        .map(|user| view! { <UserRow user=user users=users outcome=outcome/> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Ends an action on a user: the table and (the logged-in user may be the one changed)
/// the session's role follow the server.
fn after_user_change(users: LocalResource<Result<UserList, ApiError>>, access: Access) {
    users.refetch();
    access.refetch();
}

#[component]
fn UserRow(
    user: User,
    users: LocalResource<Result<UserList, ApiError>>,
    outcome: Outcome,
) -> impl IntoView {
    let session = use_session();
    let access = use_access();
    let name = user.username.to_string();
    let is_me = access
        .me()
        .and_then(Result::ok)
        .is_some_and(|me| me.username == name);
    let role = RwSignal::new(user.role.as_str().to_owned());
    let errors = RwSignal::new(FieldErrors::default());
    let setting_password = RwSignal::new(false);
    let password = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let confirming = RwSignal::new(false);
    let pending = RwSignal::new(false);

    let send_patch = {
        let name = name.clone();
        move |body: UserPatch, done: String| {
            let Some(token) = session.token_untracked() else {
                return;
            };
            let name = name.clone();
            pending.set(true);
            outcome.set(None);
            spawn_local(async move {
                let result = session.guard(api::patch_user(&token, &name, &body).await);
                pending.set(false);
                match result {
                    Ok(_) => {
                        errors.set(FieldErrors::default());
                        setting_password.set(false);
                        password.set(String::new());
                        repeat.set(String::new());
                        outcome.set(Some(Ok(done)));
                        after_user_change(users, access);
                    }
                    Err(e) => {
                        let (fields, other) = split_error(&e, &["role", "password"]);
                        errors.set(fields);
                        outcome.set(other.map(Err));
                    }
                }
            });
        }
    };

    let change_role = {
        let (name, send_patch) = (name.clone(), send_patch.clone());
        move |_| {
            let Some(new_role) = Role::parse(&role.get_untracked()) else {
                return;
            };
            let body = UserPatch {
                role: Some(new_role),
                password: None,
            };
            send_patch(body, format!("{name} is now {new_role}."));
        }
    };

    let save_password = {
        let name = name.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let found = check_password_pair(&password.get_untracked(), &repeat.get_untracked());
            let ok = found.is_empty();
            errors.set(found);
            if !ok {
                return;
            }
            let body = UserPatch {
                role: None,
                password: Some(password.get_untracked()),
            };
            send_patch(
                body,
                format!("The password of {name} is changed; its sessions and tokens have ended."),
            );
        }
    };

    let delete = {
        let name = name.clone();
        move |_| {
            let Some(token) = session.token_untracked() else {
                return;
            };
            let name = name.clone();
            pending.set(true);
            outcome.set(None);
            spawn_local(async move {
                let result = session.guard(api::delete_user(&token, &name).await);
                pending.set(false);
                confirming.set(false);
                match result {
                    Ok(()) => {
                        outcome.set(Some(Ok(format!("User {name} is deleted."))));
                        after_user_change(users, access);
                    }
                    Err(e) => outcome.set(Some(Err(e.message()))),
                }
            });
        }
    };

    let password_id = format!("user-password-{name}");
    let repeat_id = format!("user-password2-{name}");
    let password_form = move || {
        setting_password.get().then(|| {
            view! {
                <form class="user-password-form" on:submit=save_password.clone() novalidate=true>
                    <PasswordField
                        id=password_id.clone()
                        label="New password"
                        value=password
                        autocomplete="new-password"
                        hint=format!("{PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters. Ends the user's sessions and tokens.")
                        error=Signal::derive(move || errors.with(|e| e.get("password")))
                    />
                    <PasswordField
                        id=repeat_id.clone()
                        label="New password again"
                        value=repeat
                        autocomplete="new-password"
                        error=Signal::derive(move || errors.with(|e| e.get("repeat_password")))
                    />
                    <div class="button-row">
                        <button type="submit" class="user-password-save" disabled=move || pending.get()>
                            "Set password"
                        </button>
                        <button
                            type="button"
                            class="secondary user-password-cancel"
                            on:click=move |_| {
                                setting_password.set(false);
                                errors.set(FieldErrors::default());
                            }
                        >
                            "Cancel"
                        </button>
                    </div>
                </form>
            }
        })
    };

    let delete_controls = confirm_step(
        "Delete",
        "user-delete",
        name.clone(),
        pending,
        confirming,
        delete,
    );

    let select_id = format!("user-role-{name}");
    view! {
        <tr data-user=name.clone()>
            <td data-label="Name">
                <strong>{name.clone()}</strong>
                {is_me.then(|| view! { " " <span class="muted">"(you)"</span> })}
            </td>
            <td data-label="Role"><span class="badge user-role">{user.role.as_str()}</span></td>
            <td data-label="Created">{timestamp(&user.created_at)}</td>
            <td data-label="">
                <div class="row-actions">
                    <div class="row-action">
                        {role_select(
                            select_id,
                            "Role",
                            role,
                            Signal::derive(move || errors.with(|e| e.get("role"))),
                        )}
                        <button type="button" class="user-role-save" disabled=move || pending.get() on:click=change_role>
                            "Change role"
                        </button>
                    </div>
                    <div class="row-action">
                        {if is_me {
                            view! { <A href="/appliance/password">"Change my password"</A> }.into_any()
                        } else {
                            view! {
                                <button type="button" class="secondary user-password-open"
                                    on:click=move |_| setting_password.update(|open| *open = !*open)>
                                    "Set password"
                                </button>
                            }
                            .into_any()
                        }}
                        {delete_controls}
                    </div>
                    {password_form}
                </div>
            </td>
        </tr>
    }
}

#[component]
fn AddUserForm(
    users: LocalResource<Result<UserList, ApiError>>,
    outcome: Outcome,
) -> impl IntoView {
    let session = use_session();
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer.as_str().to_owned());
    let errors = RwSignal::new(FieldErrors::default());
    let pending = RwSignal::new(false);
    let error = move |field: &'static str| Signal::derive(move || errors.with(|e| e.get(field)));

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let mut found = check_password_pair(&password.get_untracked(), &repeat.get_untracked());
        let username = account_name(&mut found, "username", &name.get_untracked());
        let chosen = Role::parse(&role.get_untracked());
        if chosen.is_none() {
            found.push("role", "choose a role");
        }
        let ok = found.is_empty();
        errors.set(found);
        outcome.set(None);
        let (Some(username), Some(chosen), Some(token), true) =
            (username, chosen, session.token_untracked(), ok)
        else {
            return;
        };
        let body = NewUser {
            username,
            password: password.get_untracked(),
            role: chosen,
        };
        pending.set(true);
        spawn_local(async move {
            let result = session.guard(api::create_user(&token, &body).await);
            pending.set(false);
            match result {
                Ok(user) => {
                    name.set(String::new());
                    password.set(String::new());
                    repeat.set(String::new());
                    outcome.set(Some(Ok(format!(
                        "User {} is added as {}.",
                        user.username, user.role
                    ))));
                    users.refetch();
                }
                Err(e) => {
                    let (fields, other) =
                        add_form_error(&e, "username", &["username", "password", "role"]);
                    errors.set(fields);
                    outcome.set(other.map(Err));
                }
            }
        });
    };
    view! {
        <h3 class="form-head">"Add a user"</h3>
        <form id="user-add-form" on:submit=submit novalidate=true>
            <TextField
                id="user-new-name"
                label="Name"
                value=name
                hint="Lower-case letters, digits, '.', '_' and '-', starting with a letter; at most 32."
                error=error("username")
            />
            <PasswordField
                id="user-new-password"
                label="Password"
                value=password
                autocomplete="new-password"
                hint=format!("{PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters.")
                error=error("password")
            />
            <PasswordField
                id="user-new-password2"
                label="Password again"
                value=repeat
                autocomplete="new-password"
                error=error("repeat_password")
            />
            {role_select("user-new-role".to_owned(), "Role", role, error("role"))}
            <button type="submit" id="user-add" disabled=move || pending.get()>
                {move || if pending.get() { "Adding…" } else { "Add user" }}
            </button>
        </form>
    }
}

// ---- API tokens -------------------------------------------------------------------

#[component]
fn TokensCard() -> impl IntoView {
    let tokens = authed_resource(|token| async move { api::api_tokens(&token).await });
    let outcome: Outcome = RwSignal::new(None);
    let created = RwSignal::new(None::<CreatedApiToken>);
    view! {
        <div class="card" id="tokens-card">
            <h2>"API tokens"</h2>
            <p class="muted">
                "For scripts and monitoring: sent as " <code>"Authorization: Bearer <secret>"</code>
                ", a token may do what its role may until it expires or is revoked."
            </p>
            {outcome_view("tokens-message", outcome)}
            {async_view(tokens, move |list| tokens_table(list, tokens, outcome))}
            <NewTokenForm tokens=tokens outcome=outcome created=created/>
            {move || created.get().map(secret_view(created))}
        </div>
    }
}

fn tokens_table(
    list: ApiTokenList,
    tokens: LocalResource<Result<ApiTokenList, ApiError>>,
    outcome: Outcome,
) -> impl IntoView {
    if list.tokens.is_empty() {
        return view! { <p class="empty" id="tokens-empty">"No API tokens."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" id="tokens">
                <thead>
                    <tr>
                        <th>"Name"</th>
                        <th>"Role"</th>
                        <th>"Created by"</th>
                        <th>"Expires"</th>
                        <th>"Last used"</th>
                        <th><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {list
                        .tokens
                        .into_iter()
                        .map(|token| view! { <TokenRow token=token tokens=tokens outcome=outcome/> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn TokenRow(
    token: ApiToken,
    tokens: LocalResource<Result<ApiTokenList, ApiError>>,
    outcome: Outcome,
) -> impl IntoView {
    let session = use_session();
    let name = token.name.to_string();
    let confirming = RwSignal::new(false);
    let pending = RwSignal::new(false);
    let revoke = {
        let name = name.clone();
        move |_| {
            revoke_token(
                session,
                name.clone(),
                tokens,
                outcome,
                (pending, confirming),
            )
        }
    };
    let controls = confirm_step(
        "Revoke",
        "token-revoke",
        name.clone(),
        pending,
        confirming,
        revoke,
    );
    view! {
        <tr data-token=name.clone()>
            <td data-label="Name"><strong>{name.clone()}</strong></td>
            <td data-label="Role"><span class="badge token-role">{token.role.as_str()}</span></td>
            <td data-label="Created by">{token.created_by}</td>
            <td data-label="Expires">{timestamp(&token.expires_at)}</td>
            <td data-label="Last used" class="token-last-used">{optional_timestamp(token.last_used_at.as_ref())}</td>
            <td data-label="">
                <div class="row-actions"><div class="row-action">{controls}</div></div>
            </td>
        </tr>
    }
}

fn revoke_token(
    session: Session,
    name: String,
    tokens: LocalResource<Result<ApiTokenList, ApiError>>,
    outcome: Outcome,
    (pending, confirming): (RwSignal<bool>, RwSignal<bool>),
) {
    let Some(token) = session.token_untracked() else {
        return;
    };
    pending.set(true);
    outcome.set(None);
    spawn_local(async move {
        let result = session.guard(api::revoke_api_token(&token, &name).await);
        pending.set(false);
        confirming.set(false);
        match result {
            Ok(()) => {
                outcome.set(Some(Ok(format!(
                    "API token {name} is revoked: it no longer works."
                ))));
                tokens.refetch();
            }
            Err(e) => outcome.set(Some(Err(e.message()))),
        }
    });
}

#[component]
fn NewTokenForm(
    tokens: LocalResource<Result<ApiTokenList, ApiError>>,
    outcome: Outcome,
    created: RwSignal<Option<CreatedApiToken>>,
) -> impl IntoView {
    let session = use_session();
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer.as_str().to_owned());
    let days = RwSignal::new(DEFAULT_TOKEN_DAYS.to_string());
    let errors = RwSignal::new(FieldErrors::default());
    let pending = RwSignal::new(false);
    let error = move |field: &'static str| Signal::derive(move || errors.with(|e| e.get(field)));

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let mut found = FieldErrors::default();
        let token_name = account_name(&mut found, "name", &name.get_untracked());
        let chosen = Role::parse(&role.get_untracked());
        if chosen.is_none() {
            found.push("role", "choose a role");
        }
        let expires_in_days = match days.get_untracked().trim().parse::<u32>() {
            Ok(days) => Some(days),
            Err(_) => {
                found.push(
                    "expires_in_days",
                    format!("must be a whole number of days from 1 to {TOKEN_MAX_DAYS}"),
                );
                None
            }
        };
        let body = match (token_name, chosen, expires_in_days) {
            (Some(name), Some(role), Some(expires_in_days)) => {
                let body = NewApiToken {
                    name,
                    role,
                    expires_in_days,
                };
                for e in body.check() {
                    found.push(&e.field, e.message);
                }
                Some(body)
            }
            _ => None,
        };
        let ok = found.is_empty();
        errors.set(found);
        outcome.set(None);
        let (Some(body), Some(token), true) = (body, session.token_untracked(), ok) else {
            return;
        };
        pending.set(true);
        created.set(None);
        spawn_local(async move {
            let result = session.guard(api::create_api_token(&token, &body).await);
            pending.set(false);
            match result {
                Ok(new) => {
                    name.set(String::new());
                    created.set(Some(new));
                    tokens.refetch();
                }
                Err(e) => {
                    let (fields, other) =
                        add_form_error(&e, "name", &["name", "role", "expires_in_days"]);
                    errors.set(fields);
                    outcome.set(other.map(Err));
                }
            }
        });
    };
    view! {
        <h3 class="form-head">"Create an API token"</h3>
        <form id="token-form" on:submit=submit novalidate=true>
            <TextField
                id="token-new-name"
                label="Name"
                value=name
                hint="What uses it, e.g. monitoring; the same rules as a user name."
                error=error("name")
            />
            {role_select("token-new-role".to_owned(), "Role", role, error("role"))}
            <TextField
                id="token-new-days"
                label="Expires in days"
                value=days
                hint=format!("1 to {TOKEN_MAX_DAYS}.")
                error=error("expires_in_days")
            />
            <button type="submit" id="token-create" disabled=move || pending.get()>
                {move || if pending.get() { "Creating…" } else { "Create token" }}
            </button>
        </form>
    }
}

/// The new token's secret, this once, with a way to copy it.
fn secret_view(created: RwSignal<Option<CreatedApiToken>>) -> impl Fn(CreatedApiToken) -> AnyView {
    move |new: CreatedApiToken| {
        // It appears below the form; the person must not miss it.
        let node = NodeRef::<leptos::html::Div>::new();
        Effect::new(move || {
            if let Some(element) = node.get() {
                element.scroll_into_view();
            }
        });
        view! {
            <div class="secret-box" id="token-secret-box" role="status" node_ref=node>
                <h3>{format!("API token {} ({})", new.token.name, new.token.role)}</h3>
                <p class="secret-warning"><strong>"Copy it now: it cannot be shown again."</strong></p>
                <div class="node-key">
                    <code id="token-secret" class="ssh-key">{new.secret.clone()}</code>
                    <CopyButton text=new.secret target_id="token-secret"/>
                </div>
                <div class="button-row">
                    <button type="button" class="secondary" id="token-secret-done" on:click=move |_| created.set(None)>
                        "Done"
                    </button>
                </div>
            </div>
        }
        .into_any()
    }
}
