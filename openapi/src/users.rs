//! Users, their roles, and API tokens for automation.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::auth::{PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS};
use crate::domain::InvalidValue;

/// What a user or an API token may do. Each role may do everything the ones before it
/// may: `viewer` reads, `operator` also fails over, adds, removes and re-adds the
/// slave, runs checks and acknowledges jobs, `admin` also configures the cluster and
/// the node and manages users and tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
/// (In the OpenAPI document `AccessRole`, apart from a node's cluster `Role`.)
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", schema(as = AccessRole))]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user's or an API token's name: 1–32 characters, lower-case letters, digits, `.`,
/// `_` and `-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "schema",
    schema(value_type = String, example = "operator1", pattern = "^[a-z][a-z0-9._-]{0,31}$")
)]
pub struct AccountName(String);

impl AccountName {
    pub const MAX_LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.is_empty() {
            return Err(InvalidValue("must not be empty".into()));
        }
        let chars = raw.chars().count();
        if chars > Self::MAX_LEN {
            return Err(InvalidValue(format!(
                "must be at most {} characters long, this one has {chars}",
                Self::MAX_LEN
            )));
        }
        if !raw.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(InvalidValue("must start with a letter a–z".into()));
        }
        if let Some(bad) = raw.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        }) {
            return Err(InvalidValue(format!(
                "may contain only letters a–z, digits, '.', '_' and '-', not {bad:?}"
            )));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountName {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<AccountName> for String {
    fn from(value: AccountName) -> Self {
        value.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is wrong with `password` as a new password for `field`, if anything: the rule
/// the server and the commander share.
pub fn check_new_password(field: &str, password: &str) -> Option<FieldError> {
    let chars = password.chars().count();
    (!(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars)).then(|| FieldError {
        field: field.into(),
        message: format!(
            "must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters long, not {chars}"
        ),
    })
}

/// A user of the API and the commander.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct User {
    pub username: AccountName,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// Every user, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct UserList {
    pub users: Vec<User>,
}

/// A user to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct NewUser {
    pub username: AccountName,
    /// 12 to 1024 characters.
    #[cfg_attr(feature = "schema", schema(min_length = 12, max_length = 1024))]
    pub password: String,
    pub role: Role,
}

impl NewUser {
    pub fn check(&self) -> Vec<FieldError> {
        check_new_password("password", &self.password)
            .into_iter()
            .collect()
    }
}

/// A change of another user (or of oneself) by an admin: a new role, a new password,
/// or both. A new password ends every token of the user at once.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct UserPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// 12 to 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schema(min_length = 12, max_length = 1024))]
    pub password: Option<String>,
}

impl UserPatch {
    pub fn check(&self) -> Vec<FieldError> {
        self.password
            .as_deref()
            .and_then(|password| check_new_password("password", password))
            .into_iter()
            .collect()
    }
}

/// The longest an API token may be valid.
pub const TOKEN_MAX_DAYS: u32 = 3650;

/// An API token for automation, as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub name: AccountName,
    pub role: Role,
    /// The user who made it; the token never does more than that user may now, and
    /// ends when that user is deleted.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When a request last carried it (to the minute); none if never.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Every API token, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ApiTokenList {
    pub tokens: Vec<ApiToken>,
}

/// An API token to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct NewApiToken {
    pub name: AccountName,
    pub role: Role,
    /// Days until it expires: 1 to 3650.
    #[serde(deserialize_with = "whole_number")]
    #[cfg_attr(feature = "schema", schema(minimum = 1, maximum = 3650))]
    pub expires_in_days: u32,
}

impl NewApiToken {
    pub fn check(&self) -> Vec<FieldError> {
        if (1..=TOKEN_MAX_DAYS).contains(&self.expires_in_days) {
            return Vec::new();
        }
        vec![FieldError {
            field: "expires_in_days".into(),
            message: format!(
                "must be between 1 and {TOKEN_MAX_DAYS}, not {}",
                self.expires_in_days
            ),
        }]
    }
}

/// A whole number, also when written as `30.0` (JSON Schema's integers include it).
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let number = f64::deserialize(deserializer)?;
    if number.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&number) {
        return Err(serde::de::Error::custom(format!(
            "must be a whole number from 0 to {}, not {number}",
            u32::MAX
        )));
    }
    // In range and whole, checked above.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(number as u32)
}

/// A token just created, with its secret: shown this once, stored only as a hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct CreatedApiToken {
    pub token: ApiToken,
    /// Send it as `Authorization: Bearer <secret>`. It cannot be shown again.
    pub secret: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_allow_what_the_lower_ones_allow() {
        assert!(Role::Admin.allows(Role::Operator));
        assert!(Role::Operator.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Operator));
        assert!(!Role::Operator.allows(Role::Admin));
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }

    #[test]
    fn account_names_are_checked() {
        for good in ["admin", "a", "ops-1", "ci.deploy_2", &"x".repeat(32)] {
            assert!(AccountName::parse(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("1ops", "start with"),
            ("Admin", "start with"),
            ("ops man", "' '"),
            ("ops:x", "':'"),
            (&"x".repeat(33), "at most 32"),
        ] {
            let err = AccountName::parse(bad).expect_err(bad);
            assert!(err.0.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn new_passwords_and_expiries_are_checked() {
        let user = NewUser {
            username: AccountName::parse("ops").expect("name"),
            password: "short".into(),
            role: Role::Operator,
        };
        assert_eq!(user.check()[0].field, "password");
        let token = NewApiToken {
            name: AccountName::parse("ci").expect("name"),
            role: Role::Viewer,
            expires_in_days: 0,
        };
        assert_eq!(token.check()[0].field, "expires_in_days");
        assert!(UserPatch::default().check().is_empty());
    }

    #[test]
    fn token_days_are_whole_numbers_however_written() {
        let read =
            |json: &str| serde_json::from_str::<NewApiToken>(json).map(|t| t.expires_in_days);
        assert_eq!(
            read(r#"{"name":"ci","role":"viewer","expires_in_days":30}"#).ok(),
            Some(30)
        );
        assert_eq!(
            read(r#"{"name":"ci","role":"viewer","expires_in_days":30.0}"#).ok(),
            Some(30)
        );
        for bad in ["30.5", "-1", "1e20", "\"30\""] {
            let json = format!(r#"{{"name":"ci","role":"viewer","expires_in_days":{bad}}}"#);
            assert!(read(&json).is_err(), "{bad}");
        }
    }
}
