//! Managed telephony services: started in order on the master, stopped in reverse
//! order everywhere else. Each is a set of shell commands or a systemd unit.

use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::process::Stdio;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedService {
    pub name: String,
    /// A systemd unit; used when the commands are not given.
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub stop: Option<String>,
    /// Exit status 0 means running.
    #[serde(default)]
    pub status: Option<String>,
}

const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

impl ManagedService {
    fn command(&self, action: &str) -> Option<String> {
        let given = match action {
            "start" => self.start.clone(),
            "stop" => self.stop.clone(),
            _ => self.status.clone(),
        };
        given.or_else(|| {
            self.unit.as_ref().map(|unit| {
                let verb = if action == "status" {
                    "is-active --quiet"
                } else {
                    action
                };
                format!("systemctl {verb} {unit}")
            })
        })
    }

    async fn run(&self, action: &str) -> anyhow::Result<bool> {
        let Some(command) = self.command(action) else {
            return Ok(true);
        };
        // Only the exit status is awaited: a start command that daemonizes leaves its
        // daemon holding stdout/stderr open, so waiting for their end would hang.
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("{} {action}: running `{command}`", self.name))?;
        let stderr = child.stderr.take();
        let status = tokio::time::timeout(COMMAND_TIMEOUT, child.wait())
            .await
            .with_context(|| {
                format!(
                    "{} {action}: `{command}` did not end within {COMMAND_TIMEOUT:?}",
                    self.name
                )
            })?
            .with_context(|| format!("{} {action}: waiting for `{command}`", self.name))?;
        if !status.success() && action != "status" {
            let mut text = Vec::new();
            if let Some(mut stderr) = stderr {
                let _ =
                    tokio::time::timeout(Duration::from_millis(200), stderr.read_to_end(&mut text))
                        .await;
            }
            anyhow::bail!(
                "{} {action}: `{command}` failed ({status}): {}",
                self.name,
                String::from_utf8_lossy(&text).trim()
            );
        }
        Ok(status.success())
    }

    pub async fn start(&self) -> anyhow::Result<()> {
        self.run("start").await.map(drop)
    }

    pub async fn stop(&self) -> anyhow::Result<()> {
        self.run("stop").await.map(drop)
    }

    pub async fn is_running(&self) -> anyhow::Result<bool> {
        self.run("status").await
    }

    /// Whether the service can tell if it runs (a status command or a unit).
    pub fn has_status(&self) -> bool {
        self.command("status").is_some()
    }

    /// What runs it, for people: the unit, else the start command.
    pub fn runs(&self) -> String {
        self.unit
            .clone()
            .or_else(|| self.start.clone())
            .unwrap_or_else(|| "nothing (no unit and no start command)".to_owned())
    }

    /// The wire view: the service and whether it runs now.
    pub async fn describe(
        &self,
        role: pequod_api::cluster::Role,
    ) -> pequod_api::services::ManagedService {
        use pequod_api::cluster::Role;
        use pequod_api::services::ServiceState;
        let state = if !self.has_status() {
            ServiceState::Unknown
        } else {
            match self.is_running().await {
                Ok(true) => ServiceState::Running,
                Ok(false) => ServiceState::Stopped,
                Err(err) => {
                    tracing::warn!(
                        service = self.name,
                        error = format!("{err:#}"),
                        "service status"
                    );
                    ServiceState::Unknown
                }
            }
        };
        pequod_api::services::ManagedService {
            name: self.name.clone(),
            runs: self.runs(),
            state,
            expected_running: matches!(role, Role::Master | Role::Standalone),
        }
    }
}

/// Starts every service in order; stops at the first that fails.
pub async fn start_all(services: &[ManagedService]) -> anyhow::Result<()> {
    for service in services {
        service.start().await?;
        tracing::info!(service = service.name, "service started");
    }
    Ok(())
}

/// Stops every service in reverse order; goes on past failures and reports them.
pub async fn stop_all(services: &[ManagedService]) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    for service in services.iter().rev() {
        match service.stop().await {
            Ok(()) => tracing::info!(service = service.name, "service stopped"),
            Err(err) => failures.push(format!("{err:#}")),
        }
    }
    anyhow::ensure!(failures.is_empty(), "{}", failures.join("; "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker_service(dir: &std::path::Path) -> ManagedService {
        let marker = dir.join("running");
        ManagedService {
            name: "marker".into(),
            unit: None,
            start: Some(format!("touch {}", marker.display())),
            stop: Some(format!("rm -f {}", marker.display())),
            status: Some(format!("test -e {}", marker.display())),
        }
    }

    #[tokio::test]
    async fn services_start_stop_and_report_their_status() {
        let dir = tempfile::tempdir().expect("tempdir");
        let service = marker_service(dir.path());
        assert!(!service.is_running().await.expect("status"));
        start_all(std::slice::from_ref(&service))
            .await
            .expect("start");
        assert!(service.is_running().await.expect("status"));
        stop_all(std::slice::from_ref(&service))
            .await
            .expect("stop");
        assert!(!service.is_running().await.expect("status"));
    }

    #[tokio::test]
    async fn a_failing_start_names_the_service_and_its_error() {
        let service = ManagedService {
            name: "sip".into(),
            unit: None,
            start: Some("echo no config >&2; exit 3".into()),
            stop: None,
            status: None,
        };
        let err = start_all(&[service]).await.expect_err("fails");
        let text = format!("{err:#}");
        assert!(
            text.contains("sip start") && text.contains("no config"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn the_wire_view_tells_running_stopped_and_unknown() {
        use pequod_api::cluster::Role;
        use pequod_api::services::ServiceState;
        let dir = tempfile::tempdir().expect("tempdir");
        let service = marker_service(dir.path());
        let stopped = service.describe(Role::Master).await;
        assert_eq!(stopped.state, ServiceState::Stopped);
        assert!(stopped.expected_running);
        assert!(stopped.runs.starts_with("touch "), "{}", stopped.runs);
        service.start().await.expect("start");
        let running = service.describe(Role::Slave).await;
        assert_eq!(running.state, ServiceState::Running);
        assert!(!running.expected_running);
        let blind = ManagedService {
            name: "fax".into(),
            unit: None,
            start: Some("true".into()),
            stop: None,
            status: None,
        };
        assert_eq!(
            blind.describe(Role::Master).await.state,
            ServiceState::Unknown
        );
    }

    #[test]
    fn a_unit_becomes_systemctl_commands() {
        let service = ManagedService {
            name: "kamailio".into(),
            unit: Some("kamailio.service".into()),
            start: None,
            stop: None,
            status: None,
        };
        assert_eq!(
            service.command("start").as_deref(),
            Some("systemctl start kamailio.service")
        );
        assert_eq!(
            service.command("status").as_deref(),
            Some("systemctl is-active --quiet kamailio.service")
        );
    }
}
