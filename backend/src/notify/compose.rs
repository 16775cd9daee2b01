//! What the notification mails say. Pure functions from what happened to a subject
//! and a plain-text body, so the wording is tested without a mail server.

use chrono::{DateTime, Utc};
use pequod_api::checks::{Check, CheckKind, CheckState};
use pequod_api::jobs::{Job, JobKind, JobState, StepState};

/// A mail's subject and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    pub subject: String,
    pub body: String,
}

// No "-- " signature line: its trailing space would force quoted-printable.
const FOOTER: &str = "\nSent by Pequod, the cluster manager of this PBX.\n";

/// Mail lines longer than this are wrapped (lettre sends lines of 75 or more
/// characters quoted-printable).
const WIDTH: usize = 72;

/// Wraps long lines at spaces, continuing under the line's text (after a `Label:` or a
/// `- `), so a mail stays 7-bit plain text that reads well in any client instead of
/// being quoted-printable encoded.
pub fn wrap(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / WIDTH * 12);
    for line in text.lines() {
        let indent = hanging_indent(line);
        let mut rest = line;
        let mut first = true;
        loop {
            let prefix = if first { 0 } else { indent };
            if prefix + rest.len() <= WIDTH {
                break;
            }
            let limit = WIDTH.saturating_sub(prefix);
            let search_from = if first { indent } else { 0 };
            let cut = rest
                .char_indices()
                .filter(|&(i, c)| c == ' ' && i > search_from && i <= limit)
                .map(|(i, _)| i)
                .next_back()
                .or_else(|| {
                    rest.char_indices()
                        .find(|&(i, c)| c == ' ' && i > limit)
                        .map(|(i, _)| i)
                });
            let Some(cut) = cut else { break };
            out.push_str(&" ".repeat(prefix));
            out.push_str(rest[..cut].trim_end());
            out.push('\n');
            rest = rest[cut..].trim_start();
            first = false;
        }
        if !first {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

/// Where the continuation of a long line starts: under the value of a `Label:  value`
/// line, under the text of a `- item`, else under the line's own indentation.
fn hanging_indent(line: &str) -> usize {
    let lead = line.len() - line.trim_start().len();
    let rest = &line[lead..];
    let indent = if rest.starts_with("- ") {
        lead + 2
    } else if let Some(colon) = rest.find(": ").filter(|&c| c < 20) {
        let value = &rest[colon + 1..];
        lead + colon + 1 + (value.len() - value.trim_start().len())
    } else {
        lead
    };
    if indent < WIDTH / 2 { indent } else { 0 }
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub fn state_name(state: CheckState) -> &'static str {
    match state {
        CheckState::Ok => "OK",
        CheckState::Warning => "WARNING",
        CheckState::Critical => "CRITICAL",
        CheckState::Unknown => "UNKNOWN",
    }
}

pub fn test_mail(node: &str, at: DateTime<Utc>) -> Content {
    Content {
        subject: format!("[Pequod] Test mail from {node}"),
        body: format!(
            "This is a test mail from the Pequod node {node},\nsent at {}.\n\n\
             Failover, check and cluster notifications will reach this address.\n{FOOTER}",
            when(at)
        ),
    }
}

/// A check whose confirmed (hard) state changed.
/// The master's commits stopped waiting for the slave (`degraded` says why), or wait
/// for it again (`None`).
pub fn durability(node: &str, degraded: Option<&str>, at: DateTime<Utc>) -> Content {
    match degraded {
        Some(why) => Content {
            subject: format!("[Pequod] {node}: commits no longer wait for the slave"),
            body: format!(
                "The database on the master {node} no longer waits for the slave before it \
                 acknowledges a commit (async), because {why}.\n\n\
                 Writes go on. Until the slave has caught up, a failover could lose the \
                 commits it lacks: the slave is not promoted automatically while it is \
                 known to lack any.\n\n\
                 Node: {node}\n\
                 When: {at}\n{FOOTER}"
            ),
        },
        None => Content {
            subject: format!("[Pequod] {node}: commits wait for the slave again"),
            body: format!(
                "The slave has caught up: the database on the master {node} waits for it \
                 again before it acknowledges a commit (sync).\n\n\
                 Node: {node}\n\
                 When: {at}\n{FOOTER}"
            ),
        },
    }
}

pub fn check_change(node: &str, check: &Check, from: CheckState) -> Content {
    let at = check
        .last_change
        .or(check.last_check)
        .unwrap_or_else(Utc::now);
    let kind = match check.kind {
        CheckKind::Failover => "failover check (failing hard moves the services to the slave)",
        CheckKind::Notify => "notify check (informs only; the services stay where they are)",
    };
    let verb = if check.state == CheckState::Ok {
        "recovered"
    } else {
        "changed state"
    };
    Content {
        subject: format!(
            "[Pequod] {node}: {} is {} (was {})",
            check.name,
            state_name(check.state),
            state_name(from)
        ),
        body: format!(
            "The check {name} on {node} {verb}: {old} -> {new}.\n\n\
             Check:  {name} ({id}), a {kind}\n\
             Node:   {node}\n\
             State:  {old} -> {new}\n\
             Output: {output}\n\
             When:   {at}\n{FOOTER}",
            name = check.name,
            id = check.id,
            old = state_name(from),
            new = state_name(check.state),
            output = check.output,
            at = when(at),
        ),
    }
}

/// A takeover as the agent announced it, with the job that records its steps.
pub struct Takeover<'a> {
    pub node: &'a str,
    pub previous_master: Option<&'a str>,
    pub epoch: u64,
    /// The decision sentence.
    pub reason: &'a str,
    /// Why the takeover did not complete (no cluster IP, a service down), if it did not.
    pub failed: Option<&'a str>,
    pub job: &'a Job,
}

fn log_lines(job: &Job) -> Vec<&str> {
    job.steps
        .iter()
        .flat_map(|s| s.log.iter().map(|l| l.message.as_str()))
        .collect()
}

pub fn takeover(takeover: &Takeover<'_>) -> Content {
    let job = takeover.job;
    let lines = log_lines(job);
    let reason = takeover.reason;
    let at = job.summary.finished_at.unwrap_or(job.summary.created_at);
    let how = match job.summary.kind {
        JobKind::ManualFailover => "manual failover",
        _ => "automatic failover",
    };
    let mut body = match takeover.failed {
        None => format!(
            "{node} took over as master of the cluster ({how}).\n\n",
            node = takeover.node
        ),
        Some(error) => format!(
            "{node} took the master's role ({how}) but the takeover FAILED: {error}\n\
             The telephony services may not be available. See the job log on {node}.\n\n",
            node = takeover.node
        ),
    };
    body.push_str(&format!(
        "Why:        {reason}\n\
         When:       {at}\n\
         Epoch:      {epoch}\n\
         New master: {node}\n",
        node = takeover.node,
        at = when(at),
        epoch = takeover.epoch,
    ));
    if let Some(old) = takeover.previous_master {
        body.push_str(&format!(
            "Old master: {old} (now standby; bring it back with \"Add again\")\n"
        ));
    }
    body.push_str("\nWhat the new master did:\n");
    for line in &lines {
        body.push_str(&format!("  - {line}\n"));
    }
    body.push_str(FOOTER);
    let subject = match takeover.failed {
        None => format!(
            "[Pequod] Failover: {} is now master (epoch {})",
            takeover.node, takeover.epoch
        ),
        Some(_) => format!(
            "[Pequod] Failover FAILED: {} could not take over fully (epoch {})",
            takeover.node, takeover.epoch
        ),
    };
    Content { subject, body }
}

/// Add slave, Remove, Add again and a manual failover started here: the outcome and
/// the job's log.
pub fn cluster_job(node: &str, job: &Job) -> Content {
    let failed = job.summary.state != JobState::Succeeded;
    let outcome = match job.summary.state {
        JobState::Succeeded => "done",
        JobState::Failed => "failed",
        JobState::Interrupted => "interrupted",
        JobState::Queued | JobState::Running => "not finished",
    };
    let at = job.summary.finished_at.unwrap_or(job.summary.created_at);
    let mut body = format!(
        "{title} on {node}: {outcome}.\n\n\
         Operation: {kind}\n\
         Node:      {node}\n\
         When:      {at}\n",
        title = job.summary.title,
        kind = job.summary.kind.title(),
        at = when(at),
    );
    if let Some(error) = &job.summary.error {
        body.push_str(&format!("Error:     {error}\n"));
    }
    body.push_str("\nSteps:\n");
    for step in &job.steps {
        let state = match step.state {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Succeeded => "done",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
        };
        body.push_str(&format!("  {} ({state})\n", step.name));
        for line in &step.log {
            body.push_str(&format!("    - {}\n", line.message));
        }
    }
    body.push_str(FOOTER);
    Content {
        subject: format!(
            "[Pequod] {}: {}{}",
            job.summary.title,
            outcome,
            if failed { "!" } else { "" }
        ),
        body,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use pequod_api::checks::RunsOn;
    use pequod_api::jobs::{JobStep, JobSummary, LogLine};

    use super::*;

    fn job(kind: JobKind, title: &str, log: &[&str]) -> Job {
        let at = Utc::now();
        Job {
            summary: JobSummary {
                id: 7,
                kind,
                title: title.into(),
                state: JobState::Succeeded,
                progress: 100,
                created_at: at,
                started_at: Some(at),
                finished_at: Some(at),
                error: None,
                acknowledged: false,
            },
            steps: vec![JobStep {
                name: title.into(),
                state: StepState::Succeeded,
                log: log
                    .iter()
                    .map(|m| LogLine {
                        at,
                        message: (*m).into(),
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn long_lines_are_wrapped_under_their_label_or_item() {
        let reason = "No heartbeat from master node1 on either link, so this slave takes over (Master Node Alive).";
        let text = format!("Why:      {reason}\n  - {reason}\nshort\n");
        let wrapped = wrap(&text);
        assert!(wrapped.lines().all(|l| l.len() <= WIDTH), "{wrapped}");
        let lines: Vec<&str> = wrapped.lines().collect();
        assert!(lines[0].starts_with("Why:      No heartbeat"), "{wrapped}");
        assert!(lines[1].starts_with("          ") && !lines[1].starts_with("           "));
        let joined = format!("{} {}", lines[0], lines[1].trim());
        assert_eq!(joined, format!("Why:      {reason}"));
        assert!(lines[2].starts_with("  - No heartbeat"), "{wrapped}");
        assert!(lines[3].starts_with("    ") && !lines[3].starts_with("     "));
        assert_eq!(
            format!("{} {}", lines[2], lines[3].trim()),
            format!("  - {reason}")
        );
        assert_eq!(lines[4], "short");
        let unbreakable = "x".repeat(100);
        assert_eq!(wrap(&unbreakable), format!("{unbreakable}\n"));
    }

    #[test]
    fn a_takeover_mail_names_the_node_the_reason_and_the_epoch() {
        let job = job(
            JobKind::AutomaticFailover,
            "Failover: this node took over",
            &[
                "No heartbeat from node1 on either link for 600 ms: taking over.",
                "claimed epoch 3",
                "added 10.77.0.10/24 to eth0",
            ],
        );
        let reason = "No heartbeat from node1 on either link for 600 ms: taking over.";
        let content = takeover(&Takeover {
            node: "node2",
            previous_master: Some("node1"),
            epoch: 3,
            reason,
            failed: None,
            job: &job,
        });
        assert_eq!(
            content.subject,
            "[Pequod] Failover: node2 is now master (epoch 3)"
        );
        assert!(
            content
                .body
                .contains("Why:        No heartbeat from node1 on either link"),
            "{}",
            content.body
        );
        assert!(content.body.contains("Old master: node1"));
        assert!(content.body.contains("automatic failover"));
        assert!(!content.body.contains("FAILED"));

        let failed = takeover(&Takeover {
            node: "node2",
            previous_master: Some("node1"),
            epoch: 3,
            reason,
            failed: Some("could not add the cluster IP: permission denied"),
            job: &job,
        });
        assert_eq!(
            failed.subject,
            "[Pequod] Failover FAILED: node2 could not take over fully (epoch 3)"
        );
        assert!(
            failed
                .body
                .contains("FAILED: could not add the cluster IP: permission denied"),
            "{}",
            failed.body
        );
    }

    #[test]
    fn a_check_mail_names_the_check_both_states_the_output_and_the_node() {
        let check = Check {
            id: "asterisk-sip".into(),
            name: "Asterisk SIP".into(),
            kind: CheckKind::Notify,
            runs_on: RunsOn::Master,
            state: CheckState::Critical,
            hard: true,
            output: "no answer to OPTIONS within 2 s".into(),
            configured: true,
            last_check: Some(Utc::now()),
            last_change: Some(Utc::now()),
        };
        let content = check_change("node1", &check, CheckState::Ok);
        assert_eq!(
            content.subject,
            "[Pequod] node1: Asterisk SIP is CRITICAL (was OK)"
        );
        assert!(content.body.contains("State:  OK -> CRITICAL"));
        assert!(
            content
                .body
                .contains("Output: no answer to OPTIONS within 2 s")
        );
        assert!(content.body.contains("Node:   node1"));
    }

    #[test]
    fn a_cluster_job_mail_says_what_was_done_and_how_it_ended() {
        let mut job = job(
            JobKind::RemoveSlave,
            "Remove slave node2",
            &["node2 is standby now"],
        );
        let content = cluster_job("node1", &job);
        assert_eq!(content.subject, "[Pequod] Remove slave node2: done");
        assert!(content.body.contains("- node2 is standby now"));
        job.summary.state = JobState::Failed;
        job.summary.error = Some("node2 did not answer".into());
        let content = cluster_job("node1", &job);
        assert_eq!(content.subject, "[Pequod] Remove slave node2: failed!");
        assert!(content.body.contains("Error:     node2 did not answer"));
    }
}
