//! The master's file sync task: a full pass at start, then changes pushed once the
//! watcher has been quiet for the debounce time, a full pass every so often and at
//! once when events were lost, and failed passes retried with backoff.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::push::{PassKind, Pusher, SyncTarget};
#[cfg(test)]
use super::watch::EventSink;
use super::watch::{EventQueue, WatchEvent, Watches};
use super::{FileSyncError, FileSyncSettings, SharedError};

/// The outcome of one pass.
#[derive(Debug, Clone)]
pub struct PassReport {
    pub kind: PassKind,
    pub started: DateTime<Utc>,
    pub duration: Duration,
    /// `None` when the pass succeeded.
    pub error: Option<SharedError>,
}

/// A failed pass waiting for its retry. A retry is always a full pass: it covers the
/// changes of the failed push and all since.
#[derive(Debug, Clone)]
pub struct PendingRetry {
    /// 1 for the first retry.
    pub attempt: u32,
    pub at: DateTime<Utc>,
}

/// What the file sync task has done, for the API and the checks.
#[derive(Debug, Clone, Default)]
pub struct FileSyncState {
    pub last_pass: Option<PassReport>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_full_pass: Option<DateTime<Utc>>,
    pub pending_retry: Option<PendingRetry>,
    /// The most recent failure, kept after later passes succeed.
    pub last_error: Option<PassReport>,
    pub full_passes: u64,
    pub change_pushes: u64,
    pub failed_passes: u64,
    /// Synced paths the watcher cannot watch (yet); only full passes cover them.
    pub unwatched: Vec<PathBuf>,
}

impl FileSyncState {
    /// Whether the slave is known to hold what the master had at the last pass.
    pub fn in_sync(&self) -> bool {
        self.last_pass.as_ref().is_some_and(|p| p.error.is_none()) && self.pending_retry.is_none()
    }
}

enum Command {
    FullPass,
}

/// Starts file sync on the master.
pub struct FileSync;

impl FileSync {
    /// Watches and pushes the configured paths to `target` until the handle is stopped
    /// or dropped. Must be called inside a tokio runtime.
    pub fn spawn(
        settings: FileSyncSettings,
        target: SyncTarget,
    ) -> Result<FileSyncHandle, FileSyncError> {
        let pusher = Pusher::new(&settings)?;
        Self::spawn_with(pusher, settings, target)
    }

    /// As [`FileSync::spawn`], with the pusher's modules chosen by the caller.
    pub fn spawn_with(
        pusher: Pusher,
        settings: FileSyncSettings,
        target: SyncTarget,
    ) -> Result<FileSyncHandle, FileSyncError> {
        let (sink, events) = super::watch::queue();
        let watches = Watches::new(sink.clone())?;
        #[cfg(not(test))]
        drop(sink);
        let (state_tx, state) = watch::channel(FileSyncState::default());
        let (commands, command_rx) = mpsc::channel(8);
        let task = SyncLoop {
            pusher,
            settings,
            target,
            watches,
            events,
            commands: command_rx,
            state: state_tx,
        };
        Ok(FileSyncHandle {
            state,
            commands,
            #[cfg(test)]
            sink,
            task: Some(tokio::spawn(task.run())),
        })
    }
}

/// The running file sync; stops when dropped.
pub struct FileSyncHandle {
    state: watch::Receiver<FileSyncState>,
    commands: mpsc::Sender<Command>,
    #[cfg(test)]
    sink: EventSink,
    task: Option<JoinHandle<()>>,
}

impl FileSyncHandle {
    pub fn state(&self) -> FileSyncState {
        self.state.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<FileSyncState> {
        self.state.clone()
    }

    /// Asks for a full pass now (after "Add again", say).
    pub async fn request_full_pass(&self) {
        let _ = self.commands.send(Command::FullPass).await;
    }

    /// Hands an event to the loop exactly as the watcher does, so that the handling of
    /// lost events can be shown without overflowing the kernel's queue.
    #[cfg(test)]
    pub(super) fn inject(&self, event: notify::Result<notify::Event>) {
        self.sink.deliver(event);
    }

    /// Stops watching and pushing; a transfer under way is killed (the slave keeps
    /// complete files only: rsync renames each file into place when it is whole).
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for FileSyncHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

struct SyncLoop {
    pusher: Pusher,
    settings: FileSyncSettings,
    target: SyncTarget,
    watches: Watches,
    events: EventQueue,
    commands: mpsc::Receiver<Command>,
    state: watch::Sender<FileSyncState>,
}

/// What the loop does next.
enum Due {
    Full,
    Changes,
}

impl SyncLoop {
    async fn run(mut self) {
        let interval = self.settings.full_pass_interval();
        let debounce = self.settings.debounce();
        let max_delay = self.settings.max_delay();
        let mut changed: BTreeSet<PathBuf> = BTreeSet::new();
        // (first, latest) change not pushed yet.
        let mut changes_since: Option<(Instant, Instant)> = None;
        // The first pass is a full one: the slave may have anything.
        let mut full_requested = true;
        let mut next_full = Instant::now() + interval;
        let mut retry: Option<(Instant, u32)> = None;
        loop {
            let due = if full_requested {
                Some(Due::Full)
            } else {
                let now = Instant::now();
                let changes_due =
                    changes_since.map(|(first, latest)| (latest + debounce).min(first + max_delay));
                if retry.is_some_and(|(at, _)| at <= now) || next_full <= now {
                    Some(Due::Full)
                } else if retry.is_none() && changes_due.is_some_and(|at| at <= now) {
                    Some(Due::Changes)
                } else {
                    // Nothing due: wait for the earliest deadline or news.
                    let mut deadline = next_full;
                    if let Some((at, _)) = retry {
                        deadline = deadline.min(at);
                    } else if let Some(at) = changes_due {
                        deadline = deadline.min(at);
                    }
                    tokio::select! {
                        command = self.commands.recv() => match command {
                            Some(Command::FullPass) => full_requested = true,
                            // The handle is gone: stop.
                            None => return,
                        },
                        event = self.events.rx.recv() => {
                            let Some(event) = event else { return };
                            self.take(event, &mut changed, &mut changes_since, &mut full_requested);
                            while let Ok(event) = self.events.rx.try_recv() {
                                self.take(event, &mut changed, &mut changes_since, &mut full_requested);
                            }
                            if self.events.take_overflow() {
                                tracing::info!("file sync fell behind the watcher: a full pass follows");
                                full_requested = true;
                            }
                        },
                        () = tokio::time::sleep_until(deadline) => {},
                    }
                    None
                }
            };
            let Some(due) = due else { continue };
            let (kind, result) = match due {
                Due::Full => {
                    full_requested = false;
                    // A full pass covers every change seen so far.
                    changed.clear();
                    changes_since = None;
                    let unwatched = self.watches.watch_missing(self.pusher.modules());
                    for (path, error) in &unwatched {
                        tracing::warn!(path = %path.display(), %error, "synced path not watched: only full passes cover it");
                    }
                    self.state.send_modify(|s| {
                        s.unwatched = unwatched.into_iter().map(|(p, _)| p).collect();
                    });
                    (PassKind::Full, self.pass(PassKind::Full, &[]).await)
                }
                Due::Changes => {
                    let paths: Vec<PathBuf> = std::mem::take(&mut changed).into_iter().collect();
                    changes_since = None;
                    (
                        PassKind::Changes,
                        self.pass(PassKind::Changes, &paths).await,
                    )
                }
            };
            match result {
                Ok(()) => {
                    retry = None;
                    if kind == PassKind::Full {
                        next_full = Instant::now() + interval;
                    }
                    self.state.send_modify(|s| s.pending_retry = None);
                }
                Err(()) => {
                    let attempt = retry.map_or(1, |(_, attempt)| attempt.saturating_add(1));
                    let wait = self.backoff(attempt);
                    retry = Some((Instant::now() + wait, attempt));
                    let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                    tracing::warn!(attempt, retry_in = ?wait, "file sync pass failed: retrying with a full pass");
                    self.state
                        .send_modify(|s| s.pending_retry = Some(PendingRetry { attempt, at }));
                }
            }
        }
    }

    fn take(
        &self,
        event: WatchEvent,
        changed: &mut BTreeSet<PathBuf>,
        changes_since: &mut Option<(Instant, Instant)>,
        full_requested: &mut bool,
    ) {
        match event {
            WatchEvent::Rescan => *full_requested = true,
            WatchEvent::Changed(paths) => {
                let now = Instant::now();
                changed.extend(paths);
                *changes_since = Some(changes_since.map_or((now, now), |(first, _)| (first, now)));
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let initial = self.settings.retry_initial_ms.max(1);
        let max = self.settings.retry_max_ms.max(initial);
        let factor = 1u64 << attempt.saturating_sub(1).min(20);
        Duration::from_millis(initial.saturating_mul(factor).min(max))
    }

    /// Runs one pass and records it; the error is logged here, once.
    async fn pass(&self, kind: PassKind, paths: &[PathBuf]) -> Result<(), ()> {
        let started = Utc::now();
        let clock = Instant::now();
        let result = match kind {
            PassKind::Full => self.pusher.full_pass(&self.target).await,
            PassKind::Changes => self.pusher.push_changed(&self.target, paths).await,
        };
        let report = PassReport {
            kind,
            started,
            duration: clock.elapsed(),
            error: None,
        };
        match result {
            Ok(()) => {
                tracing::debug!(?kind, elapsed = ?report.duration, "file sync pass done");
                self.state.send_modify(|s| {
                    s.last_success = Some(started);
                    match kind {
                        PassKind::Full => {
                            s.full_passes += 1;
                            s.last_full_pass = Some(started);
                        }
                        PassKind::Changes => s.change_pushes += 1,
                    }
                    s.last_pass = Some(report);
                });
                Ok(())
            }
            Err(error) => {
                tracing::warn!(?kind, error = %error, "file sync pass failed");
                let report = PassReport {
                    error: Some(Arc::new(error)),
                    ..report
                };
                self.state.send_modify(|s| {
                    s.failed_passes += 1;
                    s.last_error = Some(report.clone());
                    s.last_pass = Some(report);
                });
                Err(())
            }
        }
    }
}
