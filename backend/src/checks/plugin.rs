//! Custom checks: runs a Nagios/Icinga plugin (program and arguments, no shell) and
//! turns its exit code and stdout into a `CheckResult`. A hung plugin is killed with
//! its whole process group when the timeout expires, and its result takes the state
//! the caller gives for a timeout (as the monitoring plugins' `-t seconds:state`); a
//! broken one is UNKNOWN.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use pequod_api::checks::CheckState;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::result::CheckResult;

/// Plugins print a line or a page; more than this is a runaway and is cut off (the
/// rest is still drained so the plugin does not block on a full pipe).
const MAX_OUTPUT: u64 = 64 * 1024;

/// A plugin invocation. No shell is involved, so arguments need no quoting and a
/// configured argument cannot inject commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl PluginCommand {
    pub fn new(
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }
}

/// Runs the plugin and waits at most `timeout` for it to exit and close its output;
/// a plugin still running then is killed and its result is `timeout_state`.
#[tracing::instrument(skip_all, fields(program = %command.program.display()))]
pub async fn run_plugin(
    command: &PluginCommand,
    timeout: Duration,
    timeout_state: CheckState,
) -> CheckResult {
    let mut child = match Command::new(&command.program)
        .args(&command.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout also kills what the plugin started
        // (a shell script's children would otherwise outlive it and keep the pipe).
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            return CheckResult::unknown(format!(
                "cannot run plugin {}: {e}",
                command.program.display()
            ));
        }
    };
    let mut group = GroupKiller(
        child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .map(Pid::from_raw),
    );
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();

    let finished = tokio::time::timeout(timeout, async {
        tokio::join!(read_capped(stdout), read_capped(stderr), child.wait())
    })
    .await;

    match finished {
        Ok((stdout, stderr, status)) => {
            // The plugin is done; anything it left running on purpose is its business.
            group.disarm();
            match status {
                Ok(status) => interpret(status, &stdout, &stderr),
                Err(e) => CheckResult::unknown(format!("waiting for the plugin failed: {e}")),
            }
        }
        Err(_elapsed) => {
            group.kill();
            // Reap the leader so no zombie is left behind.
            let _ = child.kill().await;
            CheckResult::new(
                timeout_state,
                format!("plugin timed out after {}", format_seconds(timeout)),
            )
        }
    }
}

/// SIGKILLs the plugin's process group on timeout, and also when the caller drops
/// `run_plugin` midway (kill_on_drop alone would only reach the leader).
struct GroupKiller(Option<Pid>);

impl GroupKiller {
    fn kill(&mut self) {
        if let Some(group) = self.0.take() {
            // ESRCH only means the group is already gone.
            let _ = killpg(group, Signal::SIGKILL);
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn read_capped(pipe: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut buf = Vec::new();
    let Some(mut pipe) = pipe else {
        return buf;
    };
    let mut head = (&mut pipe).take(MAX_OUTPUT);
    if head.read_to_end(&mut buf).await.is_ok() {
        let _ = tokio::io::copy(&mut pipe, &mut tokio::io::sink()).await;
    }
    buf
}

fn interpret(status: ExitStatus, stdout: &[u8], stderr: &[u8]) -> CheckResult {
    use std::os::unix::process::ExitStatusExt;

    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {}", signal_name(signal)),
        (None, None) => "no exit status".to_string(),
    };
    let stderr_text = String::from_utf8_lossy(stderr).trim().to_string();

    let Ok(stdout) = std::str::from_utf8(stdout) else {
        return CheckResult::unknown(format!("plugin output is not valid UTF-8 ({how})"))
            .with_long_output(String::from_utf8_lossy(stdout).trim().to_string());
    };
    if stdout.trim().is_empty() {
        // Nagios shows "(No output returned from plugin)"; say what we know instead.
        let message = match stderr_text.lines().next() {
            Some(line) => format!("plugin returned no output ({how}); stderr: {line}"),
            None => format!("plugin returned no output ({how})"),
        };
        return CheckResult::unknown(message).with_long_output(stderr_text);
    }

    let mut result = CheckResult::from_plugin(status.code(), stdout);
    if !matches!(status.code(), Some(0..=3)) {
        // The state is UNKNOWN already; the output says why, since the plugin's own
        // text may well claim "OK".
        result.output = format!("plugin failed ({how}): {}", result.output);
    }
    result
}

fn signal_name(signal: i32) -> String {
    Signal::try_from(signal).map_or_else(|_| signal.to_string(), |s| s.as_str().to_string())
}

/// "30 s", "0.5 s": whole seconds without a fraction.
pub(crate) fn format_seconds(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::checks::result::Unit;

    const PLUGINS: &str = "/usr/lib/nagios/plugins";
    const GENEROUS: Duration = Duration::from_secs(20);

    /// The real plugins from Debian's monitoring-plugins-basic.
    fn plugin(name: &str, args: &[&str]) -> PluginCommand {
        let program = Path::new(PLUGINS).join(name);
        assert!(
            program.exists(),
            "{} missing: apt-get install -y monitoring-plugins-basic",
            program.display()
        );
        PluginCommand::new(program, args.iter().copied())
    }

    /// A shell-script plugin, run as `/bin/sh script`: executing a file written a
    /// moment ago races with other tests forking (the child briefly inherits the
    /// write descriptor) and fails with ETXTBSY.
    fn script(dir: &Path, name: &str, body: &str) -> PluginCommand {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        PluginCommand::new("/bin/sh", [path.display().to_string()])
    }

    #[tokio::test]
    async fn check_dummy_ok_and_critical() {
        let ok = run_plugin(
            &plugin("check_dummy", &["0", "all good"]),
            GENEROUS,
            CheckState::Unknown,
        )
        .await;
        assert_eq!(ok.state, CheckState::Ok, "{ok:?}");
        assert_eq!(ok.output, "OK: all good");

        let broken = run_plugin(
            &plugin("check_dummy", &["2", "broken"]),
            GENEROUS,
            CheckState::Unknown,
        )
        .await;
        assert_eq!(broken.state, CheckState::Critical, "{broken:?}");
        assert_eq!(broken.output, "CRITICAL: broken");
    }

    #[tokio::test]
    async fn check_disk_reports_perfdata_for_root() {
        let result = run_plugin(
            &plugin("check_disk", &["-w", "20%", "-c", "10%", "-p", "/"]),
            GENEROUS,
            CheckState::Unknown,
        )
        .await;
        assert!(result.output.starts_with("DISK "), "{result:?}");
        assert_ne!(result.state, CheckState::Unknown, "{result:?}");
        let root = result.perfdata.iter().find(|p| p.label == "/").unwrap();
        assert!(root.value.unwrap() > 0.0);
        assert!(
            matches!(root.unit, Unit::Bytes | Unit::Megabytes),
            "{root:?}"
        );
        assert_eq!(root.min, Some(0.0));
        assert!(root.max.unwrap() >= root.value.unwrap());
    }

    /// A script whose own child records its pid, so a test can see it die.
    fn hanging_script(dir: &Path) -> (PluginCommand, PathBuf) {
        let marker = dir.join("child.pid");
        let hung = script(
            dir,
            "hang",
            &format!("sleep 30 &\necho $! > {}\nwait", marker.display()),
        );
        (hung, marker)
    }

    /// Waits (by deadline) until the recorded grandchild is gone or a zombie.
    async fn assert_grandchild_dies(marker: &Path) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let child: i32 = loop {
            if let Ok(pid) = std::fs::read_to_string(marker)
                .unwrap_or_default()
                .trim()
                .parse()
            {
                break pid;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the script never started its child"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        while Path::new(&format!("/proc/{child}")).exists() && !is_zombie(child) {
            assert!(
                std::time::Instant::now() < deadline,
                "sleep {child} outlived the plugin"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn hung_plugin_is_killed_with_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let (hung, marker) = hanging_script(dir.path());
        let started = std::time::Instant::now();
        let result = run_plugin(&hung, Duration::from_millis(500), CheckState::Critical).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(
            result.state,
            CheckState::Critical,
            "the state given for a timeout"
        );
        assert_eq!(result.output, "plugin timed out after 0.5 s");
        assert_grandchild_dies(&marker).await;
    }

    #[tokio::test]
    async fn cancelled_run_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let (hung, marker) = hanging_script(dir.path());
        let run = run_plugin(&hung, Duration::from_secs(60), CheckState::Critical);
        // Cancel once the grandchild exists, as a scheduler shutting down would.
        let cancelled = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::pin!(run);
            loop {
                tokio::select! {
                    result = &mut run => return result,
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {
                        if marker.exists() && !std::fs::read_to_string(&marker).unwrap().trim().is_empty() {
                            return CheckResult::unknown("cancelled");
                        }
                    }
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(cancelled.output, "cancelled");
        assert_grandchild_dies(&marker).await;
    }

    fn is_zombie(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true)
    }

    #[tokio::test]
    async fn sleep_is_timed_out_in_whole_seconds() {
        let sleep = PluginCommand::new("sleep", ["30"]);
        let result = run_plugin(&sleep, Duration::from_secs(1), CheckState::Unknown).await;
        assert_eq!(
            result.state,
            CheckState::Unknown,
            "the state given for a timeout"
        );
        assert_eq!(result.output, "plugin timed out after 1 s");
    }

    #[tokio::test]
    async fn garbage_and_odd_exit_codes_are_unknown() {
        let dir = tempfile::tempdir().unwrap();

        let seven = script(dir.path(), "seven", "echo 'OK - looks fine | x=1'\nexit 7");
        let result = run_plugin(&seven, GENEROUS, CheckState::Unknown).await;
        assert_eq!(result.state, CheckState::Unknown);
        assert_eq!(
            result.output,
            "plugin failed (exit code 7): OK - looks fine"
        );

        let binary = script(
            dir.path(),
            "binary",
            "printf 'OK \\377\\376 garbage\\n'\nexit 0",
        );
        let result = run_plugin(&binary, GENEROUS, CheckState::Unknown).await;
        assert_eq!(result.state, CheckState::Unknown);
        assert_eq!(
            result.output,
            "plugin output is not valid UTF-8 (exit code 0)"
        );
        assert!(result.long_output.contains("garbage"));

        let silent = script(dir.path(), "silent", "echo 'disk on fire' >&2\nexit 2");
        let result = run_plugin(&silent, GENEROUS, CheckState::Unknown).await;
        assert_eq!(result.state, CheckState::Unknown);
        assert_eq!(
            result.output,
            "plugin returned no output (exit code 2); stderr: disk on fire"
        );

        let empty = script(dir.path(), "empty", "exit 0");
        let result = run_plugin(&empty, GENEROUS, CheckState::Unknown).await;
        assert_eq!(result.state, CheckState::Unknown);
        assert_eq!(result.output, "plugin returned no output (exit code 0)");

        let killed = script(dir.path(), "killed", "echo dying\nkill -SEGV $$");
        let result = run_plugin(&killed, GENEROUS, CheckState::Unknown).await;
        assert_eq!(result.state, CheckState::Unknown);
        assert_eq!(
            result.output,
            "plugin failed (killed by signal SIGSEGV): dying"
        );

        let weird_perf = script(
            dir.path(),
            "weird",
            "echo 'WARNING - hmm | a=1 b=zz c=2%;;;'\nexit 1",
        );
        let result = run_plugin(&weird_perf, GENEROUS, CheckState::Unknown).await;
        assert_eq!(result.state, CheckState::Warning);
        assert_eq!(result.perfdata.len(), 2, "{result:?}");
    }

    #[tokio::test]
    async fn huge_output_is_capped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let flood = script(
            dir.path(),
            "flood",
            "echo 'OK - flood'\nhead -c 1000000 /dev/zero | tr '\\0' x\nexit 0",
        );
        let result = run_plugin(&flood, GENEROUS, CheckState::Unknown).await;
        assert_eq!(result.state, CheckState::Ok, "{}", result.output);
        assert_eq!(result.output, "OK - flood");
        assert!(result.long_output.len() < MAX_OUTPUT as usize);
    }

    #[tokio::test]
    async fn missing_program_is_unknown() {
        let result = run_plugin(
            &PluginCommand::new("/nonexistent/check_x", ["1"]),
            GENEROUS,
            CheckState::Unknown,
        )
        .await;
        assert_eq!(result.state, CheckState::Unknown);
        assert!(
            result
                .output
                .starts_with("cannot run plugin /nonexistent/check_x:"),
            "{}",
            result.output
        );
    }
}
