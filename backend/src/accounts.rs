//! Managing users and API tokens. The routes let only admins here; every change is
//! followed by a reload of what the token check knows, so it applies to the next
//! request: a deleted user's or a revoked token's requests are refused at once, and a
//! new password ends the user's older tokens.

use chrono::{DateTime, Utc};
use pequod_api::users::{
    AccountName, ApiToken, CreatedApiToken, NewApiToken, NewUser, User, UserPatch,
};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{AuthService, Principal, hash_password, new_api_secret, secret_hash};
use crate::storage::{ApiTokenRecord, StorageError, Store, UserRecord};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Store(#[from] StorageError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn user(record: UserRecord) -> Result<User, StorageError> {
    Ok(User {
        username: stored_name(&record.username)?,
        role: record.role,
        created_at: record.created_at,
    })
}

fn stored_name(name: &str) -> Result<AccountName, StorageError> {
    AccountName::parse(name).map_err(|e| StorageError::Corrupt(format!("name {name:?}: {e}")))
}

fn api_token(
    record: ApiTokenRecord,
    known_use: Option<DateTime<Utc>>,
) -> Result<ApiToken, StorageError> {
    Ok(ApiToken {
        name: stored_name(&record.name)?,
        role: record.role,
        created_by: record.created_by,
        created_at: record.created_at,
        expires_at: record.expires_at,
        last_used_at: record.last_used_at.max(known_use),
    })
}

async fn hash(password: String) -> Result<String, AccountError> {
    let secret = SecretString::from(password);
    tokio::task::spawn_blocking(move || hash_password(&secret))
        .await
        .map_err(|e| anyhow::Error::new(e).context("hashing a password"))?
        .map_err(AccountError::Unexpected)
}

impl AuthService {
    async fn reload_accounts(&self, store: &dyn Store) -> Result<(), AccountError> {
        self.reload(store)
            .await
            .map_err(|e| AccountError::Unexpected(anyhow::Error::new(e)))
    }

    pub async fn list_users(&self, store: &dyn Store) -> Result<Vec<User>, AccountError> {
        Ok(store
            .list_users()
            .await?
            .into_iter()
            .map(user)
            .collect::<Result<_, _>>()?)
    }

    /// Creates a user; `Conflict` when the name is taken.
    #[tracing::instrument(skip(self, store, request), fields(username = %request.username, role = %request.role))]
    pub async fn create_user(
        &self,
        store: &dyn Store,
        request: NewUser,
    ) -> Result<User, AccountError> {
        let password_hash = hash(request.password).await?;
        let record = store
            .create_user(request.username.as_str(), &password_hash, request.role)
            .await?;
        self.reload_accounts(store).await?;
        tracing::info!("user created");
        Ok(user(record)?)
    }

    /// Sets a user's role and/or password in one step; a new password ends every token
    /// of the user. The last admin keeps its role (`Conflict`, nothing changed).
    #[tracing::instrument(skip(self, store, patch), fields(role = ?patch.role, password = patch.password.is_some()))]
    pub async fn update_user(
        &self,
        store: &dyn Store,
        username: &str,
        patch: UserPatch,
    ) -> Result<User, AccountError> {
        let new_hash = match patch.password {
            Some(password) => Some(hash(password).await?),
            None => None,
        };
        let record = store
            .update_user(username, patch.role, new_hash.as_deref())
            .await?;
        self.reload_accounts(store).await?;
        tracing::info!("user changed");
        Ok(user(record)?)
    }

    /// Deletes a user, ending its tokens at once; never the last admin.
    #[tracing::instrument(skip(self, store))]
    pub async fn delete_user(&self, store: &dyn Store, username: &str) -> Result<(), AccountError> {
        store.delete_user(username).await?;
        self.reload_accounts(store).await?;
        tracing::info!("user deleted");
        Ok(())
    }

    pub async fn list_api_tokens(&self, store: &dyn Store) -> Result<Vec<ApiToken>, AccountError> {
        let known = self.token_last_uses();
        Ok(store
            .list_api_tokens()
            .await?
            .into_iter()
            .map(|record| {
                let known_use = known.get(&record.name).copied();
                api_token(record, known_use)
            })
            .collect::<Result<_, _>>()?)
    }

    /// Creates an API token; its secret is in the answer and nowhere else.
    #[tracing::instrument(skip(self, store, creator, request), fields(name = %request.name, role = %request.role))]
    pub async fn create_api_token(
        &self,
        store: &dyn Store,
        creator: &Principal,
        request: NewApiToken,
    ) -> Result<CreatedApiToken, AccountError> {
        let secret = new_api_secret();
        let now = Utc::now();
        let record = ApiTokenRecord {
            name: request.name.to_string(),
            role: request.role,
            secret_hash: secret_hash(secret.expose_secret()),
            created_by: creator.audit_name(),
            created_at: now,
            expires_at: now + chrono::TimeDelta::days(i64::from(request.expires_in_days)),
            last_used_at: None,
        };
        store.create_api_token(&record).await?;
        self.reload_accounts(store).await?;
        tracing::info!("API token created");
        Ok(CreatedApiToken {
            token: api_token(record, None)?,
            secret: secret.expose_secret().to_string(),
        })
    }

    /// Revokes an API token: the next request carrying it is refused.
    #[tracing::instrument(skip(self, store))]
    pub async fn revoke_api_token(
        &self,
        store: &dyn Store,
        name: &str,
    ) -> Result<(), AccountError> {
        store.delete_api_token(name).await?;
        self.reload_accounts(store).await?;
        tracing::info!("API token revoked");
        Ok(())
    }
}
