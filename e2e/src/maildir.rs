//! Reading what a test SMTP server (Debian's aiosmtpd with its Maildir handler)
//! received: the messages of a Maildir and their headers.

use std::path::{Path, PathBuf};

/// The messages delivered to the Maildir `maildir` (its `new/` folder), raw, oldest
/// first; none while the server has not made the folder yet.
pub fn messages(maildir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    files
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

/// A header's value, with folded lines joined; `name` is matched without case.
pub fn header(message: &str, name: &str) -> Option<String> {
    let head = message.split("\n\n").next().unwrap_or_default();
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let mut lines = head.lines().peekable();
    while let Some(line) = lines.next() {
        if line.to_ascii_lowercase().starts_with(&prefix) {
            let mut value = line[prefix.len()..].trim().to_string();
            while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                value.push(' ');
                value.push_str(next.trim());
                lines.next();
            }
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_headers_are_joined_and_names_match_without_case() {
        let message =
            "Subject: [Pequod] Failover:\n node2 is master\nTO: ops@example.net\n\nSubject: body\n";
        assert_eq!(
            header(message, "subject").as_deref(),
            Some("[Pequod] Failover: node2 is master")
        );
        assert_eq!(header(message, "To").as_deref(), Some("ops@example.net"));
        assert_eq!(header(message, "Date"), None, "the body is not the head");
    }
}
