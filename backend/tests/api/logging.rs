//! The binary's log on stderr: plain text when stderr is no terminal (journald, a pipe,
//! a file), where colour codes would be stored as garbage.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::DEADLINE;

#[tokio::test]
async fn the_log_carries_no_colour_codes_into_a_pipe() {
    let dir = tempfile::tempdir().expect("data dir");
    let mut node = tokio::process::Command::new(env!("CARGO_BIN_EXE_pequod"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("PEQUOD_CLUSTER__SSH_LISTEN", "127.0.0.1:0")
        .env("PEQUOD_SERVER__UI_DIR", dir.path().join("no-ui"))
        .env("PEQUOD_LOG__LEVEL", "info")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("pequod starts");
    let mut lines = BufReader::new(node.stderr.take().expect("stderr")).lines();
    let mut log = String::new();
    let listening = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.expect("stderr reads") {
            log.push_str(&line);
            log.push('\n');
            if line.contains("pequod is listening") {
                return true;
            }
        }
        false
    })
    .await;
    node.kill().await.expect("pequod stops");
    assert_eq!(listening, Ok(true), "pequod logged its start:\n{log}");
    assert!(log.contains("INFO"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a pipe: {log:?}");
}
