//! The programs a node runs from its system (arping today): one that is not installed is
//! an error naming it and the Debian package that has it, which the API answers as 503
//! rather than as an internal error.

use std::process::ExitStatus;

use tokio::process::Command;

/// A program this node needs is not installed.
#[derive(Debug, thiserror::Error)]
#[error("{program} is not installed on this node (Debian package {package})")]
pub struct MissingTool {
    pub program: String,
    pub package: &'static str,
}

/// Runs `command` to its end. A program that is not there is a [`MissingTool`] naming
/// `package`; any other failure to start it names the program.
pub async fn status(command: &mut Command, package: &'static str) -> anyhow::Result<ExitStatus> {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    match command.status().await {
        Ok(status) => Ok(status),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            Err(MissingTool { program, package }.into())
        }
        Err(err) => Err(anyhow::Error::new(err).context(format!("running {program}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_program_that_is_not_installed_is_named_with_its_package() {
        let err = status(&mut Command::new("pequod-no-such-program"), "pequod-tools")
            .await
            .unwrap_err();
        let missing = err.downcast_ref::<MissingTool>().expect("a MissingTool");
        assert_eq!(missing.program, "pequod-no-such-program");
        assert_eq!(
            err.to_string(),
            "pequod-no-such-program is not installed on this node (Debian package pequod-tools)"
        );
    }

    #[tokio::test]
    async fn an_installed_program_runs_and_its_exit_status_comes_back() {
        let ran = status(Command::new("sh").args(["-c", "exit 3"]), "dash")
            .await
            .unwrap();
        assert_eq!(ran.code(), Some(3));
    }
}
