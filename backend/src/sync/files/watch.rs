//! inotify on the synced paths (through `notify`), turned into what the push loop
//! needs: which paths changed, or that events were lost and only a full pass is safe.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::{FileSyncError, Module};

/// Events queued between the watcher thread and the push loop; beyond this the loop
/// is behind, the events are dropped and a full pass is made instead.
const QUEUE: usize = 4096;

/// What the push loop learns from the watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum WatchEvent {
    Changed(Vec<PathBuf>),
    /// Events were lost (the kernel queue overflowed, the watcher failed, or the loop
    /// fell behind): the trees must be compared whole.
    Rescan,
}

/// Receives the watcher's events on its thread and queues them for the push loop.
#[derive(Debug, Clone)]
pub(super) struct EventSink {
    tx: mpsc::Sender<WatchEvent>,
    overflowed: Arc<AtomicBool>,
}

pub(super) struct EventQueue {
    pub rx: mpsc::Receiver<WatchEvent>,
    overflowed: Arc<AtomicBool>,
}

impl EventQueue {
    /// Whether events were dropped since the last call.
    pub fn take_overflow(&self) -> bool {
        self.overflowed.swap(false, Ordering::AcqRel)
    }
}

pub(super) fn queue() -> (EventSink, EventQueue) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let overflowed = Arc::new(AtomicBool::new(false));
    (
        EventSink {
            tx,
            overflowed: overflowed.clone(),
        },
        EventQueue { rx, overflowed },
    )
}

impl EventSink {
    pub fn deliver(&self, event: notify::Result<Event>) {
        let Some(event) = classify(event) else {
            return;
        };
        if self.tx.try_send(event).is_err() {
            self.overflowed.store(true, Ordering::Release);
        }
    }
}

impl notify::EventHandler for EventSink {
    fn handle_event(&mut self, event: notify::Result<Event>) {
        self.deliver(event);
    }
}

/// Reads change nothing; everything else may have.
fn classify(event: notify::Result<Event>) -> Option<WatchEvent> {
    let event = match event {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(error = %e, "file watcher error: a full pass follows");
            return Some(WatchEvent::Rescan);
        }
    };
    if event.need_rescan() {
        tracing::info!("file watcher lost events: a full pass follows");
        return Some(WatchEvent::Rescan);
    }
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
        EventKind::Access(_) | EventKind::Other => return None,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => {}
    }
    if event.paths.is_empty() {
        return Some(WatchEvent::Rescan);
    }
    Some(WatchEvent::Changed(event.paths))
}

/// The inotify watches of the synced paths. Links are not followed: a link is synced
/// as a link, and what it points to is no synced path.
pub(super) struct Watches {
    watcher: RecommendedWatcher,
    watched: Vec<PathBuf>,
}

impl Watches {
    pub fn new(sink: EventSink) -> Result<Self, FileSyncError> {
        let config = notify::Config::default().with_follow_symlinks(false);
        let watcher =
            RecommendedWatcher::new(sink, config).map_err(|source| FileSyncError::Watch {
                path: PathBuf::new(),
                source,
            })?;
        Ok(Self {
            watcher,
            watched: Vec::new(),
        })
    }

    /// Watches every module not watched yet; returns the paths that cannot be (missing
    /// on this node, say), to be tried again at the next full pass.
    pub fn watch_missing(&mut self, modules: &[Module]) -> Vec<(PathBuf, FileSyncError)> {
        let mut failed = Vec::new();
        for module in modules {
            if self.watched.contains(&module.path) {
                continue;
            }
            match self.watcher.watch(&module.path, RecursiveMode::Recursive) {
                Ok(()) => self.watched.push(module.path.clone()),
                Err(source) => failed.push((
                    module.path.clone(),
                    FileSyncError::Watch {
                        path: module.path.clone(),
                        source,
                    },
                )),
            }
        }
        failed
    }
}

#[cfg(test)]
mod unit {
    use notify::event::{CreateKind, Flag};

    use super::*;

    #[test]
    fn lost_events_and_watcher_errors_ask_for_a_full_pass() {
        let overflow = Event::new(EventKind::Other).set_flag(Flag::Rescan);
        assert_eq!(classify(Ok(overflow)), Some(WatchEvent::Rescan));
        assert_eq!(
            classify(Err(notify::Error::generic("inotify failed"))),
            Some(WatchEvent::Rescan)
        );
        let read = Event::new(EventKind::Access(AccessKind::Read)).add_path("/a".into());
        assert_eq!(classify(Ok(read)), None);
        let create = Event::new(EventKind::Create(CreateKind::File)).add_path("/a".into());
        assert_eq!(
            classify(Ok(create)),
            Some(WatchEvent::Changed(vec!["/a".into()]))
        );
    }

    #[test]
    fn a_full_queue_is_remembered_as_an_overflow() {
        let (sink, mut queue) = queue();
        for _ in 0..QUEUE + 1 {
            sink.deliver(Ok(
                Event::new(EventKind::Create(CreateKind::File)).add_path("/a".into())
            ));
        }
        assert!(queue.take_overflow());
        assert!(!queue.take_overflow());
        assert!(queue.rx.try_recv().is_ok());
    }
}
