//! Users and API tokens in SQLite. The rule that one admin always remains is part of
//! the statement that would break it, so two changes at once cannot both pass it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pequod_api::users::Role;
use sqlx::FromRow;

use super::sqlite::SqliteStore;
use super::{ApiTokenRecord, ApiTokenRepository, StorageError, UserRecord, UserRepository};

const USER_COLUMNS: &str = "username, password_hash, role, created_at, token_generation";

/// True for a row whose removal or demotion would leave no admin.
const LAST_ADMIN: &str =
    "role = 'admin' AND (SELECT COUNT(*) FROM users WHERE role = 'admin') <= 1";

#[derive(FromRow)]
struct UserRow {
    username: String,
    password_hash: String,
    role: String,
    created_at: DateTime<Utc>,
    token_generation: i64,
}

fn role(text: &str) -> Result<Role, StorageError> {
    Role::parse(text).ok_or_else(|| StorageError::Corrupt(format!("role {text:?}")))
}

impl UserRow {
    fn record(self) -> Result<UserRecord, StorageError> {
        Ok(UserRecord {
            role: role(&self.role)?,
            username: self.username,
            password_hash: self.password_hash,
            created_at: self.created_at,
            token_generation: u64::try_from(self.token_generation).unwrap_or(0),
        })
    }
}

fn last_admin(username: &str) -> StorageError {
    StorageError::Conflict(format!(
        "{username} is the last admin; make another user an admin first"
    ))
}

#[async_trait]
impl UserRepository for SqliteStore {
    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>, StorageError> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = ?"
        ))
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        row.map(UserRow::record).transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StorageError> {
        let rows: Vec<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(UserRow::record).collect()
    }

    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<UserRecord, StorageError> {
        // A new user's token generation starts at the time in microseconds, above any
        // an earlier user of the same name reached: that user's tokens stay ended.
        let now = Utc::now();
        let result: Result<UserRow, _> = sqlx::query_as(&format!(
            "INSERT INTO users (username, password_hash, role, created_at, token_generation) \
             VALUES (?, ?, ?, ?, ?) RETURNING {USER_COLUMNS}"
        ))
        .bind(username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now)
        .bind(now.timestamp_micros())
        .fetch_one(self.pool())
        .await;
        match result {
            Ok(row) => row.record(),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(
                StorageError::Conflict(format!("a user named {username} already exists")),
            ),
            Err(e) => Err(e.into()),
        }
    }

    async fn count_users(&self) -> Result<u64, StorageError> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn set_password(
        &self,
        username: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<u64, StorageError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE users SET password_hash = ?, token_generation = token_generation + 1 \
             WHERE username = ? AND password_hash = ? RETURNING token_generation",
        )
        .bind(new_hash)
        .bind(username)
        .bind(old_hash)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some((generation,)) => Ok(u64::try_from(generation).unwrap_or(0)),
            None if self.find_user(username).await?.is_some() => Err(StorageError::Conflict(
                format!("the password of {username} was changed meanwhile; nothing was changed"),
            )),
            None => Err(StorageError::NotFound(format!("user {username}"))),
        }
    }

    async fn update_user(
        &self,
        username: &str,
        role: Option<Role>,
        new_hash: Option<&str>,
    ) -> Result<UserRecord, StorageError> {
        let demotes = role.is_some_and(|r| r != Role::Admin);
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "UPDATE users SET role = COALESCE(?1, role), \
             password_hash = COALESCE(?2, password_hash), \
             token_generation = token_generation + (CASE WHEN ?2 IS NULL THEN 0 ELSE 1 END) \
             WHERE username = ?3 AND NOT (?4 AND {LAST_ADMIN}) RETURNING {USER_COLUMNS}"
        ))
        .bind(role.map(Role::as_str))
        .bind(new_hash)
        .bind(username)
        .bind(demotes)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => row.record(),
            None if self.find_user(username).await?.is_some() => Err(last_admin(username)),
            None => Err(StorageError::NotFound(format!("user {username}"))),
        }
    }

    async fn delete_user(&self, username: &str) -> Result<(), StorageError> {
        let result = sqlx::query(&format!(
            "DELETE FROM users WHERE username = ? AND NOT ({LAST_ADMIN})"
        ))
        .bind(username)
        .execute(self.pool())
        .await?;
        if result.rows_affected() == 1 {
            return Ok(());
        }
        match self.find_user(username).await? {
            Some(_) => Err(last_admin(username)),
            None => Err(StorageError::NotFound(format!("user {username}"))),
        }
    }
}

#[derive(FromRow)]
struct TokenRow {
    name: String,
    role: String,
    secret_hash: String,
    created_by: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

#[async_trait]
impl ApiTokenRepository for SqliteStore {
    async fn create_api_token(&self, token: &ApiTokenRecord) -> Result<(), StorageError> {
        let result = sqlx::query(
            "INSERT INTO api_tokens (name, role, secret_hash, created_by, created_at, \
             expires_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&token.name)
        .bind(token.role.as_str())
        .bind(&token.secret_hash)
        .bind(&token.created_by)
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.last_used_at)
        .execute(self.pool())
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(
                StorageError::Conflict(format!("an API token named {} already exists", token.name)),
            ),
            Err(e) => Err(e.into()),
        }
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StorageError> {
        let rows: Vec<TokenRow> = sqlx::query_as(
            "SELECT name, role, secret_hash, created_by, created_at, expires_at, last_used_at \
             FROM api_tokens ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(ApiTokenRecord {
                    role: role(&row.role)?,
                    name: row.name,
                    secret_hash: row.secret_hash,
                    created_by: row.created_by,
                    created_at: row.created_at,
                    expires_at: row.expires_at,
                    last_used_at: row.last_used_at,
                })
            })
            .collect()
    }

    async fn delete_api_token(&self, name: &str) -> Result<(), StorageError> {
        let result = sqlx::query("DELETE FROM api_tokens WHERE name = ?")
            .bind(name)
            .execute(self.pool())
            .await?;
        if result.rows_affected() == 0 {
            return Err(StorageError::NotFound(format!("API token {name}")));
        }
        Ok(())
    }

    async fn touch_api_token(&self, name: &str, at: DateTime<Utc>) -> Result<(), StorageError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE name = ?")
            .bind(at)
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("pequod.db"))
            .await
            .expect("open");
        (dir, store)
    }

    #[tokio::test]
    async fn the_last_admin_is_neither_deleted_nor_demoted() {
        let (_dir, store) = store().await;
        let first = store
            .create_user("admin", "h1", Role::Admin)
            .await
            .expect("admin")
            .token_generation;
        store
            .create_user("ops", "h2", Role::Operator)
            .await
            .expect("ops");
        assert!(matches!(
            store.delete_user("admin").await,
            Err(StorageError::Conflict(_))
        ));
        assert!(matches!(
            store
                .update_user("admin", Some(Role::Viewer), Some("h3"))
                .await,
            Err(StorageError::Conflict(_))
        ));
        let admin = store.find_user("admin").await.expect("find").expect("kept");
        assert_eq!(
            (
                admin.role,
                admin.password_hash.as_str(),
                admin.token_generation
            ),
            (Role::Admin, "h1", first),
            "a refused change changes nothing"
        );
        // With a second admin either may go, but not both.
        store
            .update_user("ops", Some(Role::Admin), None)
            .await
            .expect("promote");
        store.delete_user("admin").await.expect("one of two admins");
        assert!(matches!(
            store.delete_user("ops").await,
            Err(StorageError::Conflict(_))
        ));
        assert!(matches!(
            store.delete_user("nobody").await,
            Err(StorageError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_new_password_raises_the_generation_a_role_change_does_not() {
        let (_dir, store) = store().await;
        store
            .create_user("admin", "h1", Role::Admin)
            .await
            .expect("admin");
        let ops = store
            .create_user("ops", "h2", Role::Viewer)
            .await
            .expect("ops");
        let first = ops.token_generation;
        let ops = store
            .update_user("ops", Some(Role::Operator), None)
            .await
            .expect("role");
        assert_eq!((ops.role, ops.token_generation), (Role::Operator, first));
        let ops = store
            .update_user("ops", None, Some("h3"))
            .await
            .expect("password");
        assert_eq!(
            (ops.password_hash.as_str(), ops.token_generation),
            ("h3", first + 1)
        );
        // A user made again under a deleted one's name starts above it, so the deleted
        // one's tokens stay ended.
        store.delete_user("ops").await.expect("delete");
        let again = store
            .create_user("ops", "h4", Role::Viewer)
            .await
            .expect("again");
        assert!(again.token_generation > first + 1, "{again:?}");
        assert!(matches!(
            store.create_user("ops", "h5", Role::Viewer).await,
            Err(StorageError::Conflict(_))
        ));
        let names: Vec<String> = store
            .list_users()
            .await
            .expect("list")
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(names, ["admin", "ops"]);
    }

    #[tokio::test]
    async fn tokens_are_created_listed_touched_and_deleted() {
        let (_dir, store) = store().await;
        let now = Utc::now();
        let token = ApiTokenRecord {
            name: "ci".into(),
            role: Role::Viewer,
            secret_hash: "ab".into(),
            created_by: "admin".into(),
            created_at: now,
            expires_at: now + chrono::Duration::days(1),
            last_used_at: None,
        };
        store.create_api_token(&token).await.expect("create");
        assert!(matches!(
            store.create_api_token(&token).await,
            Err(StorageError::Conflict(_))
        ));
        store.touch_api_token("ci", now).await.expect("touch");
        let listed = store.list_api_tokens().await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].last_used_at, Some(now));
        store.delete_api_token("ci").await.expect("delete");
        assert!(matches!(
            store.delete_api_token("ci").await,
            Err(StorageError::NotFound(_))
        ));
    }
}
