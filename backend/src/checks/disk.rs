//! Disk Usage: how full the filesystem holding a path is, from statvfs, against
//! thresholds in percent used. Percent is computed as df does, so the number matches
//! what an administrator sees on the shell.

use std::path::{Path, PathBuf};

use pequod_api::checks::CheckState;

use super::result::{CheckResult, Perfdata, Unit, state_label};

/// Warning and critical levels in percent used; critical is at least warning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskThresholds {
    warning: f64,
    critical: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    #[error("a disk threshold must be a percentage between 0 and 100, not {0}")]
    OutOfRange(f64),
    #[error("the warning level ({warning}%) must not be above the critical level ({critical}%)")]
    WarningAboveCritical { warning: f64, critical: f64 },
}

impl DiskThresholds {
    pub fn new(warning: f64, critical: f64) -> Result<Self, ThresholdError> {
        for level in [warning, critical] {
            if !(0.0..=100.0).contains(&level) {
                return Err(ThresholdError::OutOfRange(level));
            }
        }
        if warning > critical {
            return Err(ThresholdError::WarningAboveCritical { warning, critical });
        }
        Ok(Self { warning, critical })
    }

    pub fn warning(&self) -> f64 {
        self.warning
    }

    pub fn critical(&self) -> f64 {
        self.critical
    }
}

impl Default for DiskThresholds {
    /// check_disk's usual "-w 20% -c 10%" free space, as percent used.
    fn default() -> Self {
        Self {
            warning: 80.0,
            critical: 90.0,
        }
    }
}

/// Sizes of one filesystem, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    pub used: u64,
    /// Free space an unprivileged process may use (root's reserve excluded).
    pub available: u64,
}

impl DiskUsage {
    /// Used share of what users can have, as df's "Use%": the root reserve counts
    /// neither as used nor as available.
    pub fn percent_used(&self) -> f64 {
        let usable = self.used.saturating_add(self.available);
        if usable == 0 {
            return 100.0;
        }
        self.used as f64 * 100.0 / usable as f64
    }
}

/// Reads the usage of the filesystem holding `path`.
// The statvfs field types are u64 here but narrower on 32-bit targets.
#[allow(clippy::useless_conversion)]
pub fn disk_usage(path: &Path) -> nix::Result<DiskUsage> {
    let stat = nix::sys::statvfs::statvfs(path)?;
    let fragment = u64::from(stat.fragment_size());
    let blocks = u64::from(stat.blocks());
    let free = u64::from(stat.blocks_free());
    let available = u64::from(stat.blocks_available());
    Ok(DiskUsage {
        used: blocks.saturating_sub(free).saturating_mul(fragment),
        available: available.saturating_mul(fragment),
    })
}

/// The Disk Usage check for one path.
#[tracing::instrument]
pub async fn check_disk(path: PathBuf, thresholds: DiskThresholds) -> CheckResult {
    // statvfs can block for long on a dead network mount; keep it off the runtime.
    let probe = path.clone();
    match tokio::task::spawn_blocking(move || disk_usage(&probe)).await {
        Ok(Ok(usage)) => evaluate(&path, usage, thresholds),
        Ok(Err(e)) => CheckResult::unknown(format!("cannot stat {}: {e}", path.display())),
        Err(e) => CheckResult::unknown(format!("disk check for {} failed: {e}", path.display())),
    }
}

/// Pure verdict for measured usage.
pub fn evaluate(path: &Path, usage: DiskUsage, thresholds: DiskThresholds) -> CheckResult {
    let percent = usage.percent_used();
    let state = if percent >= thresholds.critical {
        CheckState::Critical
    } else if percent >= thresholds.warning {
        CheckState::Warning
    } else {
        CheckState::Ok
    };
    let rounded = (percent * 10.0).round() / 10.0;
    CheckResult::new(
        state,
        format!(
            "DISK {} - {} {rounded}% used, {} free",
            state_label(state),
            path.display(),
            human_bytes(usage.available)
        ),
    )
    .with_perfdata(
        Perfdata::new("used", rounded, Unit::Percent)
            .thresholds(thresholds.warning, thresholds.critical)
            .range(0.0, 100.0),
    )
    .with_perfdata(
        Perfdata::new("free", usage.available as f64, Unit::Bytes)
            .range(0.0, usage.used.saturating_add(usage.available) as f64),
    )
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn thresholds_are_validated() {
        assert!(DiskThresholds::new(80.0, 90.0).is_ok());
        assert!(DiskThresholds::new(90.0, 90.0).is_ok());
        assert_eq!(
            DiskThresholds::new(95.0, 90.0),
            Err(ThresholdError::WarningAboveCritical {
                warning: 95.0,
                critical: 90.0
            })
        );
        assert_eq!(
            DiskThresholds::new(-1.0, 90.0),
            Err(ThresholdError::OutOfRange(-1.0))
        );
        assert_eq!(
            DiskThresholds::new(80.0, 101.0),
            Err(ThresholdError::OutOfRange(101.0))
        );
        assert!(DiskThresholds::new(f64::NAN, 90.0).is_err());
    }

    #[test]
    fn evaluate_table() {
        let t = DiskThresholds::new(80.0, 90.0).unwrap();
        let cases = [
            (0, 10, CheckState::Ok),
            (79, 21, CheckState::Ok),
            (80, 20, CheckState::Warning),
            (89, 11, CheckState::Warning),
            (90, 10, CheckState::Critical),
            (100, 0, CheckState::Critical),
            (0, 0, CheckState::Critical),
        ];
        for (used, available, state) in cases {
            let usage = DiskUsage {
                used: used * GIB,
                available: available * GIB,
            };
            let result = evaluate(Path::new("/var"), usage, t);
            assert_eq!(result.state, state, "{used} GiB used, {available} GiB free");
        }
        let result = evaluate(
            Path::new("/var"),
            DiskUsage {
                used: 85 * GIB,
                available: 15 * GIB,
            },
            t,
        );
        assert_eq!(result.output, "DISK WARNING - /var 85% used, 15.0 GiB free");
        assert_eq!(result.perfdata[0].to_string(), "used=85%;80;90;0;100");
    }

    #[tokio::test]
    async fn root_against_thresholds_around_its_real_usage() {
        let usage = disk_usage(Path::new("/")).unwrap();
        let percent = usage.percent_used();
        assert!((0.0..=100.0).contains(&percent));

        let generous = DiskThresholds::new(100.0, 100.0).unwrap();
        if percent < 100.0 {
            let result = check_disk("/".into(), generous).await;
            assert_eq!(result.state, CheckState::Ok, "{}", result.output);
        }
        let strict = DiskThresholds::new(0.0, 0.0).unwrap();
        let result = check_disk("/".into(), strict).await;
        assert_eq!(result.state, CheckState::Critical, "{}", result.output);
        assert!(
            result.output.starts_with("DISK CRITICAL - / "),
            "{}",
            result.output
        );
        let used = &result.perfdata[0];
        assert_eq!(used.label, "used");
        assert!((used.value.unwrap() - percent).abs() < 1.0);
    }

    #[tokio::test]
    async fn missing_path_is_unknown() {
        let result = check_disk("/nonexistent/pequod".into(), DiskThresholds::default()).await;
        assert_eq!(result.state, CheckState::Unknown);
        assert!(
            result
                .output
                .starts_with("cannot stat /nonexistent/pequod:"),
            "{}",
            result.output
        );
    }

    /// Unmounts on drop so a failed assertion leaves no mount behind.
    struct Tmpfs(PathBuf);

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }

    #[tokio::test]
    async fn tmpfs_empty_is_ok_and_full_is_critical() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        if !mounted.success() {
            eprintln!("skipped: mount -t tmpfs failed (no CAP_SYS_ADMIN here?)");
            return;
        }
        let mount = Tmpfs(dir.path().to_path_buf());

        let thresholds = DiskThresholds::new(80.0, 90.0).unwrap();
        let result = check_disk(mount.0.clone(), thresholds).await;
        assert_eq!(result.state, CheckState::Ok, "{}", result.output);

        // Writing past the size fails with ENOSPC once the tmpfs is full; that is the
        // point, so the error is expected.
        let _ = std::fs::write(mount.0.join("fill"), vec![0u8; 2 << 20]);
        let result = check_disk(mount.0.clone(), thresholds).await;
        assert_eq!(result.state, CheckState::Critical, "{}", result.output);
        assert!(result.output.contains("100% used"), "{}", result.output);
    }
}
