//! Users, passwords and tokens. Passwords are argon2id hashes; a login returns an HS256
//! JWT signed with a secret kept in the data directory, so tokens survive a restart.
//! Failed logins are counted per client address and refused for a while past a limit.
//! Each token carries its user's token generation; changing the password raises it, so
//! every token issued before is refused at once. API tokens for automation are random
//! secrets kept only as their SHA-256. Roles are looked up on every request, never
//! read from a token, so a demotion, a deletion or a revocation applies at once.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use pequod_api::auth::PrincipalKind;
use pequod_api::users::Role;

use crate::storage::{StorageError, Store};

/// Login tokens and the login rate limit (the `[auth]` section of the settings).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AuthSettings {
    /// How long a login token is valid.
    pub token_ttl_secs: u64,
    /// Failed logins from one client address allowed within `login_window_secs`.
    pub login_max_failures: u32,
    pub login_window_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            token_ttl_secs: 8 * 3600,
            login_max_failures: 5,
            login_window_secs: 300,
        }
    }
}

pub const ADMIN_USER: &str = "admin";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("this call needs a bearer token: log in with POST /api/v1/auth/login")]
    MissingToken,
    #[error("the bearer token is not valid; log in again")]
    InvalidToken,
    #[error("the bearer token has expired; log in again")]
    ExpiredToken,
    #[error("the bearer token ended when the password was changed; log in again")]
    EndedToken,
    #[error("the bearer token's user was deleted")]
    DeletedUser,
    #[error("the API token's maker was deleted; an admin can create a new one")]
    MakerGone,
    #[error("{0}")]
    Forbidden(String),
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error("{0}")]
    ChangedMeanwhile(String),
    #[error("too many failed logins from this address; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StorageError> for AuthError {
    fn from(err: StorageError) -> Self {
        AuthError::Unexpected(anyhow::Error::new(err).context("the user store failed"))
    }
}

/// What a token says about its bearer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    /// The user's token generation when the token was issued (0 before any change).
    #[serde(default)]
    pub generation: u64,
}

impl Claims {
    pub fn expires_at(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.exp, 0)
            .single()
            .unwrap_or_else(Utc::now)
    }
}

/// Who a request is from: a logged-in user or an API token, with the role it has now.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user's name, or the API token's.
    pub name: String,
    pub role: Role,
    pub kind: PrincipalKind,
    pub expires_at: DateTime<Utc>,
    proof: Proof,
}

#[derive(Debug, Clone, PartialEq)]
enum Proof {
    Login { generation: u64 },
    ApiToken { hash: String },
}

/// What an API token's secret starts with (a login token, a JWT, never does).
pub const API_TOKEN_PREFIX: &str = "pqd_";

impl Principal {
    /// How the audit log names it: the user's name, or `token:<name>`.
    pub fn audit_name(&self) -> String {
        match self.kind {
            PrincipalKind::User => self.name.clone(),
            PrincipalKind::ApiToken => format!("token:{}", self.name),
        }
    }

    /// Refuses, naming the role needed, unless this principal's role allows `needed`.
    pub fn require(&self, needed: Role) -> Result<(), AuthError> {
        if self.role.allows(needed) {
            return Ok(());
        }
        let who = match self.kind {
            PrincipalKind::User => format!("{} has the {} role", self.name, self.role),
            PrincipalKind::ApiToken => {
                format!("the API token {} has the {} role", self.name, self.role)
            }
        };
        Err(AuthError::Forbidden(format!(
            "this needs the {needed} role (or a higher one); {who}"
        )))
    }
}

/// What the service knows of every account, reloaded from the store on each change.
#[derive(Default)]
struct Accounts {
    users: HashMap<String, UserEntry>,
    /// API tokens by the hash of their secret.
    tokens: HashMap<String, TokenEntry>,
}

struct UserEntry {
    generation: u64,
    role: Role,
    created_at: DateTime<Utc>,
}

struct TokenEntry {
    name: String,
    role: Role,
    /// The user who made it: the token never does more than that user may now.
    created_by: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl Accounts {
    /// The principal of the API token with this secret hash: unknown once revoked,
    /// refused once expired or once the user who made it is gone (a user made later
    /// under that name is another), and never above its maker's role now.
    fn api_token(&self, hash: &str) -> Result<Principal, AuthError> {
        let entry = self.tokens.get(hash).ok_or(AuthError::InvalidToken)?;
        if entry.expires_at <= Utc::now() {
            return Err(AuthError::ExpiredToken);
        }
        let maker = self
            .users
            .get(&entry.created_by)
            .filter(|maker| maker.created_at <= entry.created_at)
            .ok_or(AuthError::MakerGone)?;
        Ok(Principal {
            name: entry.name.clone(),
            role: entry.role.min(maker.role),
            kind: PrincipalKind::ApiToken,
            expires_at: entry.expires_at,
            proof: Proof::ApiToken {
                hash: hash.to_string(),
            },
        })
    }
}

/// How often an API token's last use is written to the store, at most.
const LAST_USE_RESOLUTION: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

#[derive(Clone)]
pub struct AuthService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    token_ttl: Duration,
    limiter: Arc<LoginLimiter>,
    accounts: Arc<RwLock<Accounts>>,
    /// Serialises reloads, so an older read never replaces a newer one.
    reloading: Arc<tokio::sync::Mutex<()>>,
    /// Set while the last reload failed (every token is refused then); the next login
    /// tries again.
    stale: Arc<std::sync::atomic::AtomicBool>,
    /// Counts account changes, so long-lived streams check their token again at once.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
}

impl AuthService {
    pub fn new(secret: &SecretString, settings: &AuthSettings) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            token_ttl: Duration::from_secs(settings.token_ttl_secs),
            limiter: Arc::new(LoginLimiter::new(
                settings.login_max_failures,
                Duration::from_secs(settings.login_window_secs),
            )),
            accounts: Arc::default(),
            reloading: Arc::default(),
            stale: Arc::default(),
            changes: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// Whether a principal checked before is still good: not expired, its user still
    /// there with no password change since, its API token not revoked. Long-lived
    /// streams ask this as they go.
    pub fn still_valid(&self, principal: &Principal) -> bool {
        if principal.expires_at <= Utc::now() {
            return false;
        }
        let accounts = self.accounts.read().unwrap_or_else(|p| p.into_inner());
        match &principal.proof {
            Proof::Login { generation } => accounts
                .users
                .get(&principal.name)
                .is_some_and(|user| user.generation == *generation),
            Proof::ApiToken { hash } => accounts.api_token(hash).is_ok(),
        }
    }

    /// Changes whenever some tokens end or some role changes.
    pub fn ended_tokens(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Loads every user and API token from the store: at start, and after each change.
    /// When the store cannot be read, every token is refused until a reload succeeds:
    /// what was known may be a deleted user's or a revoked token's.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), AuthError> {
        let _one_at_a_time = self.reloading.lock().await;
        let read = async {
            Ok::<_, StorageError>((store.list_users().await?, store.list_api_tokens().await?))
        };
        let (users, tokens) = match read.await {
            Ok(read) => read,
            Err(err) => {
                *self.accounts.write().unwrap_or_else(|p| p.into_inner()) = Accounts::default();
                self.stale.store(true, std::sync::atomic::Ordering::SeqCst);
                self.changes.send_modify(|n| *n = n.wrapping_add(1));
                tracing::error!(error = %err, "the users could not be read; every token is refused until they are");
                return Err(err.into());
            }
        };
        self.stale.store(false, std::sync::atomic::Ordering::SeqCst);
        {
            let mut accounts = self.accounts.write().unwrap_or_else(|p| p.into_inner());
            let known_uses: HashMap<String, Option<DateTime<Utc>>> = accounts
                .tokens
                .iter()
                .map(|(hash, t)| (hash.clone(), t.last_used_at))
                .collect();
            accounts.users = users
                .into_iter()
                .map(|u| {
                    let entry = UserEntry {
                        generation: u.token_generation,
                        role: u.role,
                        created_at: u.created_at,
                    };
                    (u.username, entry)
                })
                .collect();
            accounts.tokens = tokens
                .into_iter()
                .map(|t| {
                    let known = known_uses.get(&t.secret_hash).copied().flatten();
                    let entry = TokenEntry {
                        last_used_at: t.last_used_at.max(known),
                        name: t.name,
                        role: t.role,
                        created_by: t.created_by,
                        created_at: t.created_at,
                        expires_at: t.expires_at,
                    };
                    (t.secret_hash, entry)
                })
                .collect();
        }
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    }

    fn generation(&self, username: &str) -> u64 {
        self.accounts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .users
            .get(username)
            .map(|user| user.generation)
            .unwrap_or(0)
    }

    /// When each API token was last used, as known in memory (newer than the store's
    /// by up to a minute).
    pub(crate) fn token_last_uses(&self) -> HashMap<String, DateTime<Utc>> {
        self.accounts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .tokens
            .values()
            .filter_map(|t| t.last_used_at.map(|at| (t.name.clone(), at)))
            .collect()
    }

    /// Notes that an API token was just used; returns the time to store when the
    /// stored one is more than a minute old.
    pub fn note_use(&self, principal: &Principal) -> Option<DateTime<Utc>> {
        let Proof::ApiToken { hash } = &principal.proof else {
            return None;
        };
        let now = Utc::now();
        let mut accounts = self.accounts.write().unwrap_or_else(|p| p.into_inner());
        let entry = accounts.tokens.get_mut(hash)?;
        if entry
            .last_used_at
            .is_some_and(|at| now - at < LAST_USE_RESOLUTION)
        {
            return None;
        }
        entry.last_used_at = Some(now);
        Some(now)
    }

    /// Changes a user's own password: the current one must be right (a wrong one counts
    /// as a failed login from the client), the new one is stored hashed, and every
    /// token issued before ends. Returns a fresh token for the session that asked.
    #[tracing::instrument(skip(self, store, current, new))]
    pub async fn change_password(
        &self,
        store: &dyn Store,
        client: Option<IpAddr>,
        username: &str,
        current: SecretString,
        new: SecretString,
    ) -> Result<(String, Claims), AuthError> {
        if let Some(ip) = client {
            self.limiter.check(ip)?;
        }
        let stored_hash = store
            .find_user(username)
            .await?
            .map(|u| u.password_hash)
            .ok_or(AuthError::InvalidToken)?;
        let old_hash = stored_hash.clone();
        // The new hash only when the current password is right.
        let new_hash = tokio::task::spawn_blocking(move || {
            if verify_password(&current, &stored_hash)? {
                Ok::<_, AuthError>(Some(hash_password(&new)?))
            } else {
                Ok(None)
            }
        })
        .await
        .map_err(|e| AuthError::Unexpected(anyhow::Error::new(e).context("password change")))??;
        let Some(new_hash) = new_hash else {
            if let Some(ip) = client {
                self.limiter.record_failure(ip);
            }
            tracing::warn!(
                username,
                ?client,
                "password change with a wrong current password"
            );
            return Err(AuthError::WrongCurrentPassword);
        };
        // Only over the hash checked above: of two changes at once, one wins and the
        // other is refused, never silently overwritten.
        let generation = match store.set_password(username, &old_hash, &new_hash).await {
            Ok(generation) => generation,
            Err(StorageError::Conflict(why)) => return Err(AuthError::ChangedMeanwhile(why)),
            Err(other) => return Err(other.into()),
        };
        self.reload(store).await?;
        tracing::info!(username, generation, "password changed; older tokens ended");
        self.issue_at(username, generation)
    }

    /// Checks the password and issues a token; counts failures per client address.
    #[tracing::instrument(skip(self, store, password))]
    pub async fn login(
        &self,
        store: &dyn Store,
        client: Option<IpAddr>,
        username: &str,
        password: SecretString,
    ) -> Result<(String, Claims), AuthError> {
        if let Some(ip) = client {
            self.limiter.check(ip)?;
        }
        if self.stale.load(std::sync::atomic::Ordering::SeqCst) {
            self.reload(store).await?;
        }
        // The generation before the password is checked: a change that lands while
        // this login is checked ends the token it is about to get.
        let generation = self.generation(username);
        let user = store.find_user(username).await?;
        let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
        // Verify even for unknown users so the answer takes as long either way.
        let matches = tokio::task::spawn_blocking(move || match stored_hash {
            Some(hash) => verify_password(&password, &hash),
            None => {
                let _ = hash_password(&password);
                Ok(false)
            }
        })
        .await
        .map_err(|e| AuthError::Unexpected(anyhow::Error::new(e).context("password check")))??;
        if !matches {
            if let Some(ip) = client {
                self.limiter.record_failure(ip);
            }
            tracing::warn!(username, ?client, "failed login");
            return Err(AuthError::InvalidCredentials);
        }
        if let Some(ip) = client {
            self.limiter.forget(ip);
        }
        self.issue_at(username, generation)
    }

    fn issue_at(&self, username: &str, generation: u64) -> Result<(String, Claims), AuthError> {
        let now = Utc::now().timestamp();
        let ttl = i64::try_from(self.token_ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: username.to_string(),
            iat: now,
            exp: now.saturating_add(ttl),
            generation,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| {
            AuthError::Unexpected(anyhow::Error::new(e).context("signing a token"))
        })?;
        Ok((token, claims))
    }

    /// The principal a bearer token stands for, with its role as it is now.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token.starts_with(API_TOKEN_PREFIX) {
            return self.verify_api_token(token);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::ExpiredToken,
                _ => AuthError::InvalidToken,
            })?;
        let accounts = self.accounts.read().unwrap_or_else(|p| p.into_inner());
        let user = accounts
            .users
            .get(&claims.sub)
            .ok_or(AuthError::DeletedUser)?;
        // A user made again under a deleted one's name starts at a higher generation.
        if claims.generation != user.generation {
            return Err(AuthError::EndedToken);
        }
        Ok(Principal {
            expires_at: claims.expires_at(),
            role: user.role,
            kind: PrincipalKind::User,
            proof: Proof::Login {
                generation: user.generation,
            },
            name: claims.sub,
        })
    }

    fn verify_api_token(&self, secret: &str) -> Result<Principal, AuthError> {
        let accounts = self.accounts.read().unwrap_or_else(|p| p.into_inner());
        accounts.api_token(&secret_hash(secret))
    }
}

/// A new API token's secret: the prefix and 43 random letters and digits (about 250 bits).
pub fn new_api_secret() -> SecretString {
    SecretString::from(format!("{API_TOKEN_PREFIX}{}", random_text(43)))
}

/// The SHA-256 of an API token's secret, lower-case hex: all the store keeps of it.
pub fn secret_hash(secret: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Creates the `admin` user on the first start. Returns the generated password when
/// none was given, so the caller can show it once.
pub async fn ensure_admin(
    store: &dyn Store,
    password: Option<&SecretString>,
) -> anyhow::Result<Option<SecretString>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let (password, generated) = match password {
        Some(given) if !given.expose_secret().is_empty() => (given.clone(), false),
        _ => (random_password(), true),
    };
    let to_hash = password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&to_hash)).await??;
    store.create_user(ADMIN_USER, &hash, Role::Admin).await?;
    Ok(generated.then_some(password))
}

fn random_password() -> SecretString {
    SecretString::from(random_text(20))
}

/// `len` characters drawn from letters and digits that cannot be mistaken for others.
fn random_text(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = OsRng;
    (0..len)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

pub fn hash_password(password: &SecretString) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

fn verify_password(password: &SecretString, phc: &str) -> Result<bool, AuthError> {
    let parsed = PasswordHash::new(phc).map_err(|e| {
        AuthError::Unexpected(anyhow::anyhow!("stored password hash is unreadable: {e}"))
    })?;
    Ok(Argon2::default()
        .verify_password(password.expose_secret().as_bytes(), &parsed)
        .is_ok())
}

/// Failed logins per client address within a sliding window.
pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    pub fn check(&self, ip: IpAddr) -> Result<(), AuthError> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(times) = failures.get_mut(&ip) else {
            return Ok(());
        };
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.len() >= self.max_failures as usize {
            let oldest = times.front().copied().unwrap_or(now);
            let wait = self.window.saturating_sub(now.duration_since(oldest));
            return Err(AuthError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        Ok(())
    }

    pub fn record_failure(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.entry(ip).or_default().push_back(Instant::now());
    }

    pub fn forget(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_refuses_after_the_limit_and_per_address() {
        let limiter = LoginLimiter::new(2, Duration::from_secs(60));
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        limiter.record_failure(a);
        assert!(limiter.check(a).is_ok());
        limiter.record_failure(a);
        assert!(
            matches!(limiter.check(a), Err(AuthError::RateLimited { retry_after_secs }) if retry_after_secs <= 60)
        );
        assert!(limiter.check(b).is_ok(), "another address is not limited");
        limiter.forget(a);
        assert!(limiter.check(a).is_ok());
    }

    #[test]
    fn failures_older_than_the_window_no_longer_count() {
        let limiter = LoginLimiter::new(1, Duration::ZERO);
        let a: IpAddr = [127, 0, 0, 1].into();
        limiter.record_failure(a);
        assert!(limiter.check(a).is_ok());
    }

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = hash_password(&SecretString::from("correct horse")).expect("hash");
        assert!(verify_password(&SecretString::from("correct horse"), &hash).expect("verify"));
        assert!(!verify_password(&SecretString::from("battery staple"), &hash).expect("verify"));
    }
}
