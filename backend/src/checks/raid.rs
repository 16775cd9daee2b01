//! RAID: reads Linux software RAID state from /proc/mdstat (or the configured file).
//! A failed or missing member is CRITICAL (a failover check on the master); a machine
//! without md arrays has no RAID to judge: "not configured", never CRITICAL, so a
//! RAID-less appliance neither fails over nor lights the lamp.

use std::path::Path;

use pequod_api::checks::CheckState;

use super::result::{CheckResult, state_label};

pub const MDSTAT: &str = "/proc/mdstat";

/// One md array as /proc/mdstat describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MdArray {
    pub name: String,
    pub active: bool,
    /// "raid1", "raid5", …; absent for inactive arrays.
    pub level: Option<String>,
    pub members: Vec<MdMember>,
    /// The `[UU_]` map: one entry per slot, true when that slot's disk is up.
    /// Absent for levels without redundancy (raid0, linear).
    pub slots: Option<Vec<bool>>,
    /// A running resync/recovery/check line, e.g. "recovery = 12.6%".
    pub progress: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdMember {
    pub device: String,
    pub failed: bool,
    pub spare: bool,
}

impl MdArray {
    /// Why the array is degraded, or `None` when it is healthy.
    pub fn degraded(&self) -> Option<String> {
        let failed: Vec<&str> = self
            .members
            .iter()
            .filter(|m| m.failed)
            .map(|m| m.device.as_str())
            .collect();
        let down = self
            .slots
            .as_ref()
            .map_or(0, |s| s.iter().filter(|up| !**up).count());
        let mut reasons = Vec::new();
        if !failed.is_empty() {
            reasons.push(format!("failed {}", failed.join(", ")));
        }
        if down > 0 {
            let map: String = self
                .slots
                .iter()
                .flatten()
                .map(|up| if *up { 'U' } else { '_' })
                .collect();
            reasons.push(format!(
                "{down} of {} disks missing [{map}]",
                self.slots.as_ref().map_or(0, Vec::len)
            ));
        }
        (!reasons.is_empty()).then(|| reasons.join(", "))
    }
}

/// Parses /proc/mdstat; lines it does not understand are skipped.
pub fn parse_mdstat(text: &str) -> Vec<MdArray> {
    let mut arrays: Vec<MdArray> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some((name, rest)) = trimmed.split_once(" : ")
            && name.starts_with("md")
            && !line.starts_with(char::is_whitespace)
        {
            arrays.push(parse_array_line(name, rest));
            continue;
        }
        let Some(array) = arrays.last_mut() else {
            continue;
        };
        if !line.starts_with(char::is_whitespace) {
            continue; // "unused devices: …" and other top-level lines
        }
        if trimmed.contains(" blocks") {
            array.slots = trimmed.split_whitespace().rev().find_map(parse_slot_map);
        } else if let Some(progress) = ["recovery", "resync", "reshape", "check", "repair"]
            .iter()
            .find_map(|kind| progress_of(trimmed, kind))
        {
            array.progress = Some(progress);
        }
    }
    arrays
}

/// "active raid1 sdb1[1](F) sda1[0]" or "inactive sdc[0](S)".
fn parse_array_line(name: &str, rest: &str) -> MdArray {
    let mut words = rest.split_whitespace().peekable();
    let active = words.next() == Some("active");
    // "(read-only)" and "(auto-read-only)" may follow the state.
    while words.peek().is_some_and(|w| w.starts_with('(')) {
        words.next();
    }
    let level = if active {
        words.next_if(|w| !w.contains('[')).map(str::to_string)
    } else {
        None
    };
    let members = words.filter_map(parse_member).collect();
    MdArray {
        name: name.to_string(),
        active,
        level,
        members,
        ..MdArray::default()
    }
}

/// "sdb1[1](F)" → sdb1, failed.
fn parse_member(word: &str) -> Option<MdMember> {
    let (device, rest) = word.split_once('[')?;
    if device.is_empty() {
        return None;
    }
    let flags = rest.split_once(']').map_or("", |(_, flags)| flags);
    Some(MdMember {
        device: device.to_string(),
        failed: flags.contains("(F)"),
        spare: flags.contains("(S)"),
    })
}

/// "[UU_]" → [true, true, false]; other bracketed words ("[2/1]") → None.
fn parse_slot_map(word: &str) -> Option<Vec<bool>> {
    let inner = word.strip_prefix('[')?.strip_suffix(']')?;
    if inner.is_empty() || !inner.chars().all(|c| c == 'U' || c == '_') {
        return None;
    }
    Some(inner.chars().map(|c| c == 'U').collect())
}

fn progress_of(line: &str, kind: &str) -> Option<String> {
    let at = line.find(&format!("{kind} ="))?;
    let value = line[at..].split('=').nth(1)?.split_whitespace().next()?;
    Some(format!("{kind} {value}"))
}

/// Verdict over mdstat text; `None` when the file does not exist.
pub fn evaluate_mdstat(text: Option<&str>) -> CheckResult {
    let arrays = text.map(parse_mdstat).unwrap_or_default();
    if arrays.is_empty() {
        return CheckResult::not_configured("no software RAID found");
    }
    let mut state = CheckState::Ok;
    let mut problems = Vec::new();
    let mut details = Vec::new();
    for array in &arrays {
        let progress = array
            .progress
            .as_ref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        if let Some(why) = array.degraded() {
            state = state.max(CheckState::Critical);
            problems.push(format!("{} degraded: {why}{progress}", array.name));
        } else if !array.active {
            // An inactive array is usually a leftover disk that was assembled half
            // at boot; worth a look, not worth moving the services.
            state = state.max(CheckState::Warning);
            problems.push(format!("{} inactive", array.name));
        }
        let level = array.level.as_deref().unwrap_or("inactive");
        details.push(format!("{} {level}{progress}", array.name));
    }
    let summary = if problems.is_empty() {
        let names: Vec<&str> = arrays.iter().map(|a| a.name.as_str()).collect();
        format!("all {} arrays healthy ({})", arrays.len(), names.join(", "))
    } else {
        problems.join("; ")
    };
    CheckResult::new(state, format!("RAID {} - {summary}", state_label(state)))
        .with_long_output(details.join("\n"))
}

/// The RAID check on `path` (normally `MDSTAT`). A file that cannot be read for any
/// other reason than its absence is UNKNOWN: there may be arrays nobody can see.
pub async fn check_raid(path: &Path) -> CheckResult {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => evaluate_mdstat(Some(&text)),
        // No md driver loaded: there is no software RAID to judge.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => evaluate_mdstat(None),
        Err(e) => CheckResult::unknown(format!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEALTHY: &str =
        "Personalities : [raid1] [linear] [multipath] [raid0] [raid6] [raid5] [raid4] [raid10] 
md0 : active raid1 sdb1[1] sda1[0]
      1046528 blocks super 1.2 [2/2] [UU]
      
md1 : active raid1 sdb2[1] sda2[0]
      975628288 blocks super 1.2 [2/2] [UU]
      bitmap: 1/8 pages [4KB], 65536KB chunk

unused devices: <none>
";

    const FAILED_MEMBER: &str = "Personalities : [raid1]
md0 : active raid1 sdb1[1] sda1[0]
      1046528 blocks super 1.2 [2/2] [UU]

md1 : active raid1 sdb2[1](F) sda2[0]
      975628288 blocks super 1.2 [2/1] [U_]
      bitmap: 4/8 pages [16KB], 65536KB chunk

unused devices: <none>
";

    const RECOVERING: &str = "Personalities : [raid1]
md0 : active raid1 sdc1[2] sda1[0]
      976630336 blocks super 1.2 [2/1] [U_]
      [==>..................]  recovery = 12.6% (123456/976630336) finish=80.1min speed=177000K/sec
      bitmap: 2/8 pages [8KB], 65536KB chunk

unused devices: <none>
";

    const RAID5_MISSING: &str = "Personalities : [raid6] [raid5] [raid4]
md127 : active raid5 sdd[3] sdc[1] sdb[0]
      5860268032 blocks super 1.2 level 5, 512k chunk, algorithm 2 [4/3] [UU_U]
      bitmap: 0/15 pages [0KB], 65536KB chunk

unused devices: <none>
";

    const CHECKING_AND_RAID0: &str = "Personalities : [raid0] [raid1]
md0 : active raid1 sdb1[1] sda1[0]
      1046528 blocks super 1.2 [2/2] [UU]
      [=>...................]  check =  8.3% (87040/1046528) finish=0.1min speed=87040K/sec

md1 : active raid0 sdd1[1] sdc1[0]
      2093056 blocks super 1.2 512k chunks

md2 : active (auto-read-only) raid1 sdf1[1] sde1[0]
      1046528 blocks super 1.2 [2/2] [UU]

unused devices: <none>
";

    const INACTIVE: &str = "Personalities : 
md127 : inactive sdb[0](S)
      1953382488 blocks super 1.2
       
unused devices: <none>
";

    const NO_ARRAYS: &str = "Personalities : 
unused devices: <none>
";

    #[test]
    fn verdicts_for_sample_mdstats() {
        let cases = [
            (
                Some(HEALTHY),
                CheckState::Ok,
                "RAID OK - all 2 arrays healthy (md0, md1)",
            ),
            (
                Some(FAILED_MEMBER),
                CheckState::Critical,
                "RAID CRITICAL - md1 degraded: failed sdb2, 1 of 2 disks missing [U_]",
            ),
            (
                Some(RECOVERING),
                CheckState::Critical,
                "RAID CRITICAL - md0 degraded: 1 of 2 disks missing [U_] (recovery 12.6%)",
            ),
            (
                Some(RAID5_MISSING),
                CheckState::Critical,
                "RAID CRITICAL - md127 degraded: 1 of 4 disks missing [UU_U]",
            ),
            (
                Some(CHECKING_AND_RAID0),
                CheckState::Ok,
                "RAID OK - all 3 arrays healthy (md0, md1, md2)",
            ),
            (
                Some(INACTIVE),
                CheckState::Warning,
                "RAID WARNING - md127 inactive",
            ),
            (
                Some(NO_ARRAYS),
                CheckState::Unknown,
                "no software RAID found",
            ),
            (Some(""), CheckState::Unknown, "no software RAID found"),
            (None, CheckState::Unknown, "no software RAID found"),
        ];
        for (text, state, output) in cases {
            let result = evaluate_mdstat(text);
            assert_eq!(
                (result.state, result.output.as_str()),
                (state, output),
                "{text:?}"
            );
            assert_eq!(
                result.configured,
                output != "no software RAID found",
                "only a machine without arrays has no RAID to judge: {text:?}"
            );
        }
    }

    #[test]
    fn parsed_structure() {
        let arrays = parse_mdstat(FAILED_MEMBER);
        assert_eq!(arrays.len(), 2);
        let md1 = &arrays[1];
        assert_eq!(md1.name, "md1");
        assert!(md1.active);
        assert_eq!(md1.level.as_deref(), Some("raid1"));
        assert_eq!(
            md1.members,
            vec![
                MdMember {
                    device: "sdb2".into(),
                    failed: true,
                    spare: false
                },
                MdMember {
                    device: "sda2".into(),
                    failed: false,
                    spare: false
                },
            ]
        );
        assert_eq!(md1.slots, Some(vec![true, false]));

        let mixed = parse_mdstat(CHECKING_AND_RAID0);
        assert_eq!(mixed[0].progress.as_deref(), Some("check 8.3%"));
        assert_eq!(mixed[1].slots, None, "raid0 has no slot map");
        assert_eq!(mixed[2].level.as_deref(), Some("raid1"));

        let inactive = parse_mdstat(INACTIVE);
        assert!(!inactive[0].active);
        assert!(inactive[0].members[0].spare);
    }

    #[test]
    fn odd_text_never_panics() {
        for text in [
            "md0 : ",
            "md0 : active",
            " : \n   [UU]",
            "md0 : active raid1 [\n [",
            "\u{0}md : x",
        ] {
            let result = evaluate_mdstat(Some(text));
            assert!(!result.output.is_empty(), "{text:?}");
            assert_ne!(
                result.state,
                CheckState::Critical,
                "nothing failed in {text:?}"
            );
        }
    }

    #[tokio::test]
    async fn real_files_healthy_degraded_absent_and_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let mdstat = dir.path().join("mdstat");

        std::fs::write(&mdstat, HEALTHY).unwrap();
        let healthy = check_raid(&mdstat).await;
        assert_eq!(healthy.state, CheckState::Ok, "{healthy:?}");
        assert!(healthy.configured);

        std::fs::write(&mdstat, FAILED_MEMBER).unwrap();
        let degraded = check_raid(&mdstat).await;
        assert_eq!(degraded.state, CheckState::Critical, "{degraded:?}");
        assert!(degraded.output.contains("[U_]"), "{}", degraded.output);

        std::fs::remove_file(&mdstat).unwrap();
        let absent = check_raid(&mdstat).await;
        assert_eq!(absent.state, CheckState::Unknown);
        assert!(!absent.configured, "no md driver, no RAID: {absent:?}");

        // A directory where the file should be: something is there, unreadable.
        std::fs::create_dir(&mdstat).unwrap();
        let unreadable = check_raid(&mdstat).await;
        assert_eq!(unreadable.state, CheckState::Unknown);
        assert!(unreadable.configured, "cannot tell: {unreadable:?}");
        assert!(
            unreadable.output.starts_with("cannot read"),
            "{unreadable:?}"
        );
    }
}
