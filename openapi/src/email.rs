//! The e-mail address notifications go to. The rule is plain ASCII `local@domain.tld`
//! and stricter than what the backend's mailer (lettre) parses, so an address the form
//! and the API accept is one the mailer can send to. No mail library here: the crate
//! builds for the browser.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the messages hold up as a good address.
const EXAMPLE: &str = "like ops@example.net";

/// An e-mail address a notification can go to, trimmed, as typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// RFC 5321's limit on a forward path, less its angle brackets.
    pub const MAX_LEN: usize = 254;
    /// RFC 1035's limit on one label of a domain.
    pub const MAX_LABEL_LEN: usize = 63;

    /// Accepts `local@domain.tld` after trimming; the message says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        match problem(text) {
            None => Ok(Self(text.to_owned())),
            Some(message) => Err(message),
        }
    }

    /// Accepts `text` as sent, without trimming: what the API reads.
    pub fn parse_exact(text: &str) -> Result<Self, String> {
        match problem(text) {
            None => Ok(Self(text.to_owned())),
            Some(message) => Err(message),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The schema's pattern: with `maxLength` [`EmailAddress::MAX_LEN`], exactly what
    /// [`is_email_address`] accepts. (RFC 5321's 64 characters before the @ are not
    /// checked: one pattern cannot count them across the dots, and the mailer does
    /// not need it.)
    pub fn pattern() -> String {
        let atext = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
        let label = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
        let top = "[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
        format!(r"^{atext}+(\.{atext}+)*@({label}\.)+{top}$")
    }
}

/// The schema of an e-mail address field.
#[cfg(feature = "schema")]
pub(crate) fn email_schema(description: &str, example: &str) -> utoipa::openapi::Object {
    crate::domain::text_schema(EmailAddress::pattern())
        .max_length(Some(EmailAddress::MAX_LEN))
        .description(Some(description))
        .examples([example])
        .build()
}

impl TryFrom<String> for EmailAddress {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `text`, exactly as given, is an address [`EmailAddress::parse`] accepts.
pub fn is_email_address(text: &str) -> bool {
    problem(text).is_none()
}

/// RFC 5322's `atext`, ASCII only: what may stand between the dots before the @.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// What is wrong with `text` as an address, for the person who typed it.
fn problem(text: &str) -> Option<String> {
    if text.is_empty() {
        return Some(format!("enter an e-mail address ({EXAMPLE})"));
    }
    if text.contains(char::is_whitespace) {
        return Some(format!("{text:?} must not contain spaces ({EXAMPLE})"));
    }
    let Some((local, domain)) = text.rsplit_once('@') else {
        return Some(format!("{text:?} is not an e-mail address ({EXAMPLE})"));
    };
    if text.len() > EmailAddress::MAX_LEN {
        return Some(format!(
            "an e-mail address has at most {} characters, this one has {}",
            EmailAddress::MAX_LEN,
            text.len()
        ));
    }
    if local.is_empty() {
        return Some(format!("{text:?} needs a name before the @ ({EXAMPLE})"));
    }
    if let Some(bad) = local.chars().find(|c| !(is_atext(*c) || *c == '.')) {
        return Some(format!(
            "{text:?} must not contain {bad:?} before the @ ({EXAMPLE})"
        ));
    }
    if local.split('.').any(str::is_empty) {
        return Some(format!(
            "{text:?} must not start or end with a '.' before the @ or have two in a row"
        ));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|label| label.is_empty()) {
        return Some(format!(
            "{text:?} has no full domain after the @ ({EXAMPLE})"
        ));
    }
    for label in &labels {
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Some(format!(
                "{text:?} may have only letters a–z, digits, '-' and '.' after the @, not {bad:?}"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!(
                "{text:?}: no part of the domain after the @ may start or end with '-'"
            ));
        }
        if label.len() > EmailAddress::MAX_LABEL_LEN {
            return Some(format!(
                "{text:?}: a part of the domain after the @ has more than {} characters",
                EmailAddress::MAX_LABEL_LEN
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|top| top.chars().all(|c| c.is_ascii_digit()))
    {
        return Some(format!(
            "{text:?} needs a domain name after the @, not an IP address ({EXAMPLE})"
        ));
    }
    if labels
        .last()
        .is_some_and(|top| !top.starts_with(|c: char| c.is_ascii_alphabetic()))
    {
        return Some(format!(
            "{text:?}: the last part of the domain after the @ must start with a letter"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses every rule accepts.
    pub(super) const GOOD: [&str; 7] = [
        "a@b.c",
        "ops@example.net",
        "PBX-Admin@Example.ORG",
        "first.last+pequod@mail.example.co.uk",
        "o'brien@example.ie",
        "x_y-z@sub-domain.example",
        "ops@123.example",
    ];

    #[test]
    fn good_addresses_are_kept_as_typed_but_trimmed() {
        for good in GOOD {
            assert_eq!(
                EmailAddress::parse(good).map(String::from),
                Ok(good.to_owned())
            );
            assert!(is_email_address(good), "{good}");
        }
        assert_eq!(
            EmailAddress::parse(" ops@example.net\n").map(String::from),
            Ok("ops@example.net".to_owned())
        );
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        for (bad, why) in [
            ("", "enter an e-mail address"),
            ("   ", "enter an e-mail address"),
            (
                "nobody",
                "\"nobody\" is not an e-mail address (like ops@example.net)",
            ),
            ("ops@", "no full domain"),
            ("@example.net", "needs a name before the @"),
            ("ops@localhost", "no full domain"),
            ("ops@.example.net", "no full domain"),
            ("ops@example.net.", "no full domain"),
            ("ops@example..net", "no full domain"),
            ("a b@example.net", "must not contain spaces"),
            ("ops@example .net", "must not contain spaces"),
            ("a@b@example.net", "must not contain '@' before the @"),
            ("\"a b\"@example.net", "must not contain spaces"),
            ("\"ab\"@example.net", "must not contain '\"'"),
            ("a(b)@example.net", "must not contain '('"),
            ("jörg@example.net", "must not contain 'ö'"),
            (".ops@example.net", "'.'"),
            ("ops.@example.net", "'.'"),
            ("o..ps@example.net", "two in a row"),
            ("ops@exa_mple.net", "not '_'"),
            ("ops@bücher.de", "not 'ü'"),
            ("ops@[192.0.2.1]", "not '['"),
            ("ops@192.0.2.1", "not an IP address"),
            ("ops@-example.net", "start or end with '-'"),
            ("ops@example-.net", "start or end with '-'"),
            ("ops@example.1a", "must start with a letter"),
            ("ops@example.-a", "start or end with '-'"),
            (&format!("ops@{}.net", "a".repeat(64)), "more than 63"),
            (
                &format!("ops@{}.net", vec!["a".repeat(60); 5].join(".")),
                "at most 254",
            ),
        ] {
            let message = EmailAddress::parse(bad).expect_err(bad);
            assert!(message.contains(why), "{bad:?}: {message}");
            assert!(!is_email_address(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_longest_addresses_still_pass() {
        let local = "a".repeat(64);
        let label = "b".repeat(EmailAddress::MAX_LABEL_LEN);
        let address = format!("{local}@{label}.net");
        assert!(is_email_address(&address), "{address}");
        let domain = format!("{}.net", vec!["c".repeat(61); 3].join("."));
        let address = format!(
            "{}@{domain}",
            "d".repeat(EmailAddress::MAX_LEN - 1 - domain.len())
        );
        assert_eq!(address.len(), EmailAddress::MAX_LEN);
        assert!(is_email_address(&address), "{address}");
    }

    #[test]
    fn the_rule_itself_does_not_trim() {
        assert!(!is_email_address(" ops@example.net"));
        assert!(EmailAddress::parse(" ops@example.net").is_ok());
    }

    #[test]
    fn deserialisation_rejects_bad_addresses() {
        let good: EmailAddress = serde_json::from_str("\" ops@example.net \"").expect("good");
        assert_eq!(good.as_str(), "ops@example.net");
        assert_eq!(
            serde_json::to_string(&good).expect("serialises"),
            "\"ops@example.net\""
        );
        let err = serde_json::from_str::<EmailAddress>("\"ops@localhost\"").expect_err("bad");
        assert!(err.to_string().contains("no full domain"), "{err}");
    }
}

#[cfg(test)]
mod pattern_tests {
    use super::*;
    use crate::domain::pattern_tests::{agree, random_texts};

    /// The pattern plus the schema's `maxLength`, as a validator reads them.
    fn schema_accepts(text: &str) -> bool {
        crate::domain::pattern_tests::compile(&EmailAddress::pattern()).is_match(text)
            && text.chars().count() <= EmailAddress::MAX_LEN
    }

    #[test]
    fn the_email_pattern_and_max_length_are_the_parsers_rule() {
        let long_label = "b".repeat(63);
        let too_long_label = "b".repeat(64);
        let longest = format!(
            "{}@{}.net",
            "d".repeat(60),
            vec!["c".repeat(61); 3].join(".")
        );
        let too_long = format!("e{longest}");
        let good_long = format!("ops@{long_label}.net");
        let bad_label = format!("ops@{too_long_label}.net");
        let table = [
            super::tests::GOOD.as_slice(),
            &[
                "!#$%&'*+/=?^_`{|}~-@a.b",
                &good_long,
                &longest,
                &too_long,
                &bad_label,
                "",
                "nobody",
                "ops@",
                "@example.net",
                "ops@localhost",
                "ops@.example.net",
                "ops@example.net.",
                "ops@example..net",
                "a b@example.net",
                " ops@example.net",
                "ops@example.net ",
                "ops@example.net\n",
                "a@b@example.net",
                "\"ab\"@example.net",
                "jörg@example.net",
                ".ops@example.net",
                "ops.@example.net",
                "o..ps@example.net",
                "ops@exa_mple.net",
                "ops@192.0.2.1",
                "ops@-example.net",
                "ops@example-.net",
                "ops@example.1a",
                "ops@example.a1",
                "ops@example.a-1",
                "ops@example.-a",
            ],
        ];
        agree(&EmailAddress::pattern(), is_email_address, []);
        for text in table.concat() {
            assert_eq!(schema_accepts(text), is_email_address(text), "{text:?}");
        }
        for text in random_texts("ab1.@-_ ", 14, 50_000) {
            assert_eq!(schema_accepts(&text), is_email_address(&text), "{text:?}");
        }
        // The API reads the address exactly: white space around it is refused.
        assert!(EmailAddress::parse_exact(" ops@example.net").is_err());
    }
}
