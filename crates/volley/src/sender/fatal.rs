//! A producer in a fatal state (see `Sender::fatal`) fails every batch still queued at each
//! poll, as Java's `Sender.runOnce` aborts batches while the transaction manager has a fatal
//! error: `Sender::fatal` fails what is queued then, but a send that passed its fatal check just
//! before may append after it (a metadata wait and an InitProducerId refusal ending together).

use std::time::Instant;

use super::Sender;

impl Sender {
    /// Fails every queued batch with the fatal error, if the producer has one.
    pub(super) fn fail_appended_after_fatal(&mut self, now: Instant) {
        let Some(fatal) = self.shared.lifecycle.fatal().cloned() else {
            return;
        };
        for b in self.shared.acc.take_all() {
            self.complete(now, b, Err(fatal.clone()));
        }
    }
}
