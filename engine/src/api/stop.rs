//! The user's "please stop", shared by a run's tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A one-way "please stop" flag that tasks can check or wait for.
#[derive(Clone, Debug, Default)]
pub struct StopSignal {
    inner: Arc<(AtomicBool, tokio::sync::Notify)>,
}

impl StopSignal {
    /// Raises the flag and wakes every waiter.
    pub fn set(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    /// Whether the flag is raised.
    pub fn is_set(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }

    /// Waits until the flag is raised.
    pub async fn wait(&self) {
        loop {
            let notified = self.inner.1.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}
