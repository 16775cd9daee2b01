//! Users, roles and API tokens: each role against each route class, the last-admin
//! rule, tokens ending on a new password or a deletion, roles applying at once, and
//! API tokens created, used, listed without their secret and revoked.

use pequod_api::audit::AuditPage;
use pequod_api::auth::{LoginResponse, Me, PrincipalKind};
use pequod_api::users::{ApiTokenList, CreatedApiToken, Role, User, UserList};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, TestApp, read_problem, spawn_app};

const PASSWORD: &str = "a password long enough";

async fn create_user(app: &TestApp, admin: &str, name: &str, role: Role) -> User {
    let response = app
        .send_json(
            Method::POST,
            "/api/v1/users",
            admin,
            &json!({ "username": name, "password": PASSWORD, "role": role }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "create {name}");
    assert_eq!(
        response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some(format!("/api/v1/users/{name}").as_str())
    );
    response.json().await.unwrap()
}

async fn login(app: &TestApp, name: &str, password: &str) -> String {
    let response = app.login(name, password).await;
    assert_eq!(response.status(), StatusCode::OK, "{name} logs in");
    response.json::<LoginResponse>().await.unwrap().token
}

async fn create_token(app: &TestApp, admin: &str, name: &str, role: Role) -> CreatedApiToken {
    let response = app
        .send_json(
            Method::POST,
            "/api/v1/tokens",
            admin,
            &json!({ "name": name, "role": role, "expires_in_days": 30 }),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "create token {name}"
    );
    response.json().await.unwrap()
}

async fn delete(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("DELETE request")
}

async fn request(app: &TestApp, method: &Method, path: &str, token: &str, body: &Value) -> u16 {
    let builder = app
        .client
        .request(method.clone(), app.url(path))
        .bearer_auth(token);
    let builder = if body.is_null() {
        builder
    } else {
        builder.json(body)
    };
    builder.send().await.expect("request").status().as_u16()
}

#[tokio::test]
async fn each_role_reaches_exactly_its_route_classes() {
    let app = spawn_app().await;
    let admin = app.token().await;
    create_user(&app, &admin, "ops", Role::Operator).await;
    create_user(&app, &admin, "watcher", Role::Viewer).await;
    let operator = login(&app, "ops", PASSWORD).await;
    let viewer = login(&app, "watcher", PASSWORD).await;
    let ops_token = create_token(&app, &admin, "ci-ops", Role::Operator)
        .await
        .secret;
    let view_token = create_token(&app, &admin, "grafana", Role::Viewer)
        .await
        .secret;
    let admin_token = create_token(&app, &admin, "deploy", Role::Admin)
        .await
        .secret;
    let principals = [
        ("admin", &admin),
        ("admin token", &admin_token),
        ("operator", &operator),
        ("operator token", &ops_token),
        ("viewer", &viewer),
        ("viewer token", &view_token),
    ];

    // What each class answers when the role suffices: a status that shows the request
    // got past the role check (a bad body is 422, a standalone node's refusal 409).
    let bad_name = json!({ "hostname": "bad name" });
    let rows: Vec<(Method, &str, Value, Role, u16)> = vec![
        (
            Method::GET,
            "/api/v1/cluster",
            Value::Null,
            Role::Viewer,
            200,
        ),
        (Method::GET, "/api/v1/audit", Value::Null, Role::Viewer, 200),
        (Method::GET, "/api/v1/jobs", Value::Null, Role::Viewer, 200),
        (
            Method::GET,
            "/api/v1/checks",
            Value::Null,
            Role::Viewer,
            200,
        ),
        (Method::GET, "/api/v1/sync", Value::Null, Role::Viewer, 200),
        (
            Method::GET,
            "/api/v1/auth/me",
            Value::Null,
            Role::Viewer,
            200,
        ),
        (
            Method::POST,
            "/api/v1/cluster/failover",
            json!({}),
            Role::Operator,
            409,
        ),
        (
            Method::POST,
            "/api/v1/checks/disk-usage/run",
            Value::Null,
            Role::Operator,
            200,
        ),
        (
            Method::POST,
            "/api/v1/jobs/999/acknowledge",
            Value::Null,
            Role::Operator,
            404,
        ),
        (
            Method::POST,
            "/api/v1/slaves",
            json!({}),
            Role::Operator,
            422,
        ),
        (
            Method::DELETE,
            "/api/v1/slaves/node9",
            Value::Null,
            Role::Operator,
            409,
        ),
        (
            Method::POST,
            "/api/v1/slaves/node9/readd",
            Value::Null,
            Role::Operator,
            409,
        ),
        (Method::POST, "/api/v1/cluster", json!({}), Role::Admin, 422),
        (
            Method::PATCH,
            "/api/v1/nodes/self",
            bad_name,
            Role::Admin,
            422,
        ),
        (
            Method::POST,
            "/api/v1/nodes/self/prepare-slave",
            json!({}),
            Role::Admin,
            422,
        ),
        (
            Method::PATCH,
            "/api/v1/notifications",
            json!({ "email": "x" }),
            Role::Admin,
            422,
        ),
        (Method::GET, "/api/v1/users", Value::Null, Role::Admin, 200),
        (Method::POST, "/api/v1/users", json!({}), Role::Admin, 422),
        (
            Method::PATCH,
            "/api/v1/users/nobody",
            json!({}),
            Role::Admin,
            404,
        ),
        (
            Method::DELETE,
            "/api/v1/users/nobody",
            Value::Null,
            Role::Admin,
            404,
        ),
        (Method::GET, "/api/v1/tokens", Value::Null, Role::Admin, 200),
        (Method::POST, "/api/v1/tokens", json!({}), Role::Admin, 422),
        (
            Method::DELETE,
            "/api/v1/tokens/nothing",
            Value::Null,
            Role::Admin,
            404,
        ),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, needed, allowed_status) in &rows {
        for (who, token) in principals {
            let role = if who.starts_with("admin") {
                Role::Admin
            } else if who.starts_with("operator") {
                Role::Operator
            } else {
                Role::Viewer
            };
            let expected = if role.allows(*needed) {
                *allowed_status
            } else {
                403
            };
            let got = request(&app, method, path, token, body).await;
            if got != expected {
                wrong.push(format!("{who} {method} {path}: {got}, expected {expected}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // The refusal is problem+json naming the role needed and the one held.
    let problem = read_problem(
        app.send_json(Method::PATCH, "/api/v1/nodes/self", &operator, &json!({}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        problem.detail.as_deref(),
        Some("this needs the admin role (or a higher one); ops has the operator role")
    );
    let problem = read_problem(
        app.send_json(
            Method::POST,
            "/api/v1/cluster/failover",
            &view_token,
            &json!({}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        problem.detail.as_deref(),
        Some(
            "this needs the operator role (or a higher one); the API token grafana has the viewer role"
        )
    );
}

#[tokio::test]
async fn the_last_admin_can_be_neither_deleted_nor_demoted() {
    let app = spawn_app().await;
    let admin = app.token().await;
    let problem = read_problem(
        delete(&app, &admin, "/api/v1/users/admin").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        problem
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("last admin")),
        "{problem:?}"
    );
    // A refused demotion changes nothing, not even the password sent with it.
    read_problem(
        app.send_json(
            Method::PATCH,
            "/api/v1/users/admin",
            &admin,
            &json!({ "role": "viewer", "password": "another long password" }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    let me: Me = app.get_json("/api/v1/auth/me", &admin).await;
    assert_eq!((me.role, me.kind), (Role::Admin, PrincipalKind::User));
    login(&app, "admin", ADMIN_PASSWORD).await;

    // With a second admin the first may step down; then the second is the last.
    create_user(&app, &admin, "chief", Role::Admin).await;
    let response = app
        .send_json(
            Method::PATCH,
            "/api/v1/users/admin",
            &admin,
            &json!({ "role": "operator" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let demoted: User = response.json().await.unwrap();
    assert_eq!(demoted.role, Role::Operator);
    assert_eq!(
        request(&app, &Method::GET, "/api/v1/users", &admin, &Value::Null).await,
        403,
        "the demotion applies to the next request of a token issued before"
    );
    let chief = login(&app, "chief", PASSWORD).await;
    read_problem(
        delete(&app, &chief, "/api/v1/users/chief").await,
        StatusCode::CONFLICT,
    )
    .await;
    let users: UserList = app.get_json("/api/v1/users", &chief).await;
    let roles: Vec<(&str, Role)> = users
        .users
        .iter()
        .map(|u| (u.username.as_str(), u.role))
        .collect();
    assert_eq!(roles, [("admin", Role::Operator), ("chief", Role::Admin)]);
}

#[tokio::test]
async fn a_new_password_or_a_deletion_ends_the_users_tokens_at_once() {
    let app = spawn_app().await;
    let admin = app.token().await;
    create_user(&app, &admin, "ops", Role::Operator).await;
    let first = login(&app, "ops", PASSWORD).await;
    let second = login(&app, "ops", PASSWORD).await;

    let response = app
        .send_json(
            Method::PATCH,
            "/api/v1/users/ops",
            &admin,
            &json!({ "password": "the admin chose this one" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    for old in [&first, &second] {
        let problem = read_problem(
            app.get("/api/v1/cluster", old).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert!(
            problem
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("password was changed")),
            "{problem:?}"
        );
    }
    assert_eq!(
        app.login("ops", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let third = login(&app, "ops", "the admin chose this one").await;
    assert_eq!(
        app.get("/api/v1/cluster", &third).await.status(),
        StatusCode::OK
    );

    let response = delete(&app, &admin, "/api/v1/users/ops").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let problem = read_problem(
        app.get("/api/v1/cluster", &third).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        problem.detail.as_deref(),
        Some("the bearer token's user was deleted")
    );
    assert_eq!(
        app.login("ops", "the admin chose this one").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A new user under the deleted one's name does not bring its tokens back.
    create_user(&app, &admin, "ops", Role::Admin).await;
    read_problem(
        app.get("/api/v1/cluster", &third).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // A short password, an unknown field, a bad name: 422 naming the field.
    for (body, field) in [
        (json!({ "password": "short" }), "password"),
        (json!({ "colour": "red" }), "colour"),
        (json!({ "role": "root" }), "role"),
    ] {
        let problem = read_problem(
            app.send_json(Method::PATCH, "/api/v1/users/admin", &admin, &body)
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem.errors[0].field, field, "{problem:?}");
    }
    let problem = read_problem(
        app.send_json(
            Method::POST,
            "/api/v1/users",
            &admin,
            &json!({ "username": "Bad Name", "password": PASSWORD, "role": "viewer" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem.errors[0].field, "username");
    create_user(&app, &admin, "twice", Role::Viewer).await;
    read_problem(
        app.send_json(
            Method::POST,
            "/api/v1/users",
            &admin,
            &json!({ "username": "twice", "password": PASSWORD, "role": "admin" }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    let twice = login(&app, "twice", PASSWORD).await;
    let me: Me = app.get_json("/api/v1/auth/me", &twice).await;
    assert_eq!(
        me.role,
        Role::Viewer,
        "the refused second create changed nothing"
    );
}

#[tokio::test]
async fn an_api_token_is_shown_once_used_as_a_bearer_token_listed_and_revoked() {
    let app = spawn_app().await;
    let admin = app.token().await;
    let created = create_token(&app, &admin, "ci", Role::Operator).await;
    assert!(created.secret.starts_with("pqd_"), "{}", created.secret);
    assert_eq!(created.token.role, Role::Operator);
    assert_eq!(created.token.created_by, "admin");
    assert_eq!(created.token.last_used_at, None);
    let days = (created.token.expires_at - created.token.created_at).num_days();
    assert_eq!(days, 30);

    let me: Me = app.get_json("/api/v1/auth/me", &created.secret).await;
    assert_eq!(
        (me.username.as_str(), me.role, me.kind),
        ("ci", Role::Operator, PrincipalKind::ApiToken)
    );
    // A token has no password to change.
    read_problem(
        app.send_json(
            Method::POST,
            "/api/v1/auth/password",
            &created.secret,
            &json!({ "current_password": "x", "new_password": "a long new password" }),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // Listed by name and last use; the secret is nowhere in the listing or the audit log.
    let list: ApiTokenList = app.get_json("/api/v1/tokens", &admin).await;
    assert_eq!(list.tokens.len(), 1);
    assert_eq!(list.tokens[0].name.as_str(), "ci");
    assert!(list.tokens[0].last_used_at.is_some(), "{list:?}");
    let raw = app
        .get("/api/v1/tokens", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(!raw.contains(&created.secret[4..]), "{raw}");
    let audit = app
        .get("/api/v1/audit?per_page=100", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(!audit.contains(&created.secret[4..]), "{audit}");
    // What the token did is recorded under its name.
    let response = app
        .send_json(
            Method::POST,
            "/api/v1/cluster/failover",
            &created.secret,
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page: AuditPage = app.get_json("/api/v1/audit?action=failover", &admin).await;
    assert_eq!(page.items[0].user.as_deref(), Some("token:ci"), "{page:?}");
    let page: AuditPage = app
        .get_json("/api/v1/audit?action=token.create", &admin)
        .await;
    assert_eq!(page.items[0].user.as_deref(), Some("admin"));
    assert_eq!(
        page.items[0].detail.as_deref(),
        Some("created API token ci as operator, valid for 30 days")
    );

    read_problem(
        app.send_json(
            Method::POST,
            "/api/v1/tokens",
            &admin,
            &json!({ "name": "ci", "role": "viewer", "expires_in_days": 1 }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    let problem = read_problem(
        app.send_json(
            Method::POST,
            "/api/v1/tokens",
            &admin,
            &json!({ "name": "long", "role": "viewer", "expires_in_days": 3651 }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem.errors[0].field, "expires_in_days");

    // A restart keeps it working; a revocation ends it at once, also across a restart.
    let app = app.restart().await;
    let me: Me = app.get_json("/api/v1/auth/me", &created.secret).await;
    assert_eq!(me.kind, PrincipalKind::ApiToken);
    let response = delete(&app, &admin, "/api/v1/tokens/ci").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    read_problem(
        app.get("/api/v1/auth/me", &created.secret).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let app = app.restart().await;
    read_problem(
        app.get("/api/v1/auth/me", &created.secret).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let list: ApiTokenList = app.get_json("/api/v1/tokens", &admin).await;
    assert!(list.tokens.is_empty());
}

#[tokio::test]
async fn an_expired_api_token_is_refused() {
    let app = spawn_app().await;
    let secret = pequod::auth::new_api_secret();
    let now = chrono::Utc::now();
    use secrecy::ExposeSecret;
    app.state
        .store
        .create_api_token(&pequod::storage::ApiTokenRecord {
            name: "old".into(),
            role: Role::Admin,
            secret_hash: pequod::auth::secret_hash(secret.expose_secret()),
            created_by: "admin".into(),
            created_at: now - chrono::TimeDelta::days(2),
            expires_at: now - chrono::TimeDelta::seconds(1),
            last_used_at: None,
        })
        .await
        .unwrap();
    app.state
        .auth
        .reload(app.state.store.as_ref())
        .await
        .unwrap();
    let problem = read_problem(
        app.get("/api/v1/cluster", secret.expose_secret()).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(
        problem
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("expired")),
        "{problem:?}"
    );
}

#[tokio::test]
async fn an_api_token_never_does_more_than_its_maker_may_now() {
    let app = spawn_app().await;
    let admin = app.token().await;
    create_user(&app, &admin, "alice", Role::Admin).await;
    let alice = login(&app, "alice", PASSWORD).await;
    let ci = create_token(&app, &alice, "ci", Role::Admin).await.secret;
    assert_eq!(
        request(&app, &Method::GET, "/api/v1/users", &ci, &Value::Null).await,
        200
    );
    // A token cannot make tokens: it would answer to no one.
    let problem = read_problem(
        app.send_json(
            Method::POST,
            "/api/v1/tokens",
            &ci,
            &json!({ "name": "child", "role": "viewer", "expires_in_days": 1 }),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        problem.message().contains("cannot create API tokens"),
        "{problem:?}"
    );

    // Its maker demoted: the token is a viewer from the next request on.
    let response = app
        .send_json(
            Method::PATCH,
            "/api/v1/users/alice",
            &admin,
            &json!({ "role": "viewer" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Me = app.get_json("/api/v1/auth/me", &ci).await;
    assert_eq!((me.role, me.kind), (Role::Viewer, PrincipalKind::ApiToken));
    assert_eq!(
        request(&app, &Method::GET, "/api/v1/users", &ci, &Value::Null).await,
        403
    );

    // Its maker deleted: the token ends, and a new alice does not bring it back.
    let response = delete(&app, &admin, "/api/v1/users/alice").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let problem = read_problem(
        app.get("/api/v1/auth/me", &ci).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(
        problem.message().contains("maker was deleted"),
        "{problem:?}"
    );
    create_user(&app, &admin, "alice", Role::Admin).await;
    read_problem(
        app.get("/api/v1/auth/me", &ci).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}
