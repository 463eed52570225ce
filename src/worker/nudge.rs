//! Waking every idle connection's watchdog at once (the drain starting,
//! or the worker out of connection slots), at 4 bytes in each waiting
//! future plus a 16-byte waker slot here, instead of a `Notify` waiter
//! (64 bytes) inside every idle connection's task: the waiter is what
//! kept an idle connection's task a size class (128 bytes) larger.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// The wakers of the futures waiting for the next [`Nudges::wake_all`].
#[derive(Default)]
pub struct Nudges {
    /// How many times [`Nudges::wake_all`] has run: a waiter that saw
    /// another count when it started has been nudged.
    round: AtomicU32,
    slots: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    wakers: Vec<Option<Waker>>,
    /// Indices of empty `wakers` entries, reused before the table grows.
    free: Vec<u32>,
}

/// No slot taken yet.
const NO_SLOT: u32 = u32::MAX;

impl Nudges {
    /// Completes every [`Nudged`] created before this call.
    pub fn wake_all(&self) {
        self.round.fetch_add(1, Ordering::AcqRel);
        // Woken under the lock: a waiter registering after it was taken
        // sees the new round instead.
        for w in self.lock().wakers.iter().flatten() {
            w.wake_by_ref();
        }
    }

    /// Resolves at the next [`Nudges::wake_all`].
    pub fn nudged(&self) -> Nudged<'_> {
        Nudged {
            nudges: self,
            slot: NO_SLOT,
            round: self.round.load(Ordering::Acquire),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // The table stays consistent whatever panicked while holding it.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A future waiting for the next nudge; its waker slot is given back when
/// it completes or is dropped.
pub struct Nudged<'a> {
    nudges: &'a Nudges,
    slot: u32,
    round: u32,
}

impl Nudged<'_> {
    fn nudged(&self) -> bool {
        self.nudges.round.load(Ordering::Acquire) != self.round
    }

    fn release(&mut self) {
        if self.slot == NO_SLOT {
            return;
        }
        let mut slots = self.nudges.lock();
        if let Some(w) = slots.wakers.get_mut(self.slot as usize) {
            *w = None;
            slots.free.push(self.slot);
        }
        drop(slots);
        self.slot = NO_SLOT;
    }
}

impl Future for Nudged<'_> {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.nudged() {
            self.release();
            return Poll::Ready(());
        }
        let nudges = self.nudges;
        let mut slots = nudges.lock();
        // Looked at again under the lock: a nudge that took the lock
        // first has already passed this waker by.
        if self.nudged() {
            drop(slots);
            self.release();
            return Poll::Ready(());
        }
        let waker = cx.waker();
        if let Some(w) = slots.wakers.get_mut(self.slot as usize) {
            if !w.as_ref().is_some_and(|w| w.will_wake(waker)) {
                *w = Some(waker.clone());
            }
            return Poll::Pending;
        }
        let reused = slots.free.pop().and_then(|i| {
            let w = slots.wakers.get_mut(i as usize)?;
            *w = Some(waker.clone());
            Some(i)
        });
        self.slot = match reused {
            Some(i) => i,
            None => {
                slots.wakers.push(Some(waker.clone()));
                u32::try_from(slots.wakers.len() - 1).unwrap_or(NO_SLOT)
            }
        };
        Poll::Pending
    }
}

impl Drop for Nudged<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::Waker;

    fn poll(f: std::pin::Pin<&mut Nudged<'_>>) -> Poll<()> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_nudge_completes_every_waiter_created_before_it() {
        let n = Nudges::default();
        let mut polled = pin!(n.nudged());
        let not_polled = n.nudged();
        assert!(poll(polled.as_mut()).is_pending());
        n.wake_all();
        assert!(poll(polled.as_mut()).is_ready());
        assert!(poll(pin!(not_polled)).is_ready());
        // One created after the nudge waits for the next.
        assert!(poll(pin!(n.nudged())).is_pending());
    }

    #[test]
    fn a_finished_waiter_gives_its_slot_back() {
        let n = Nudges::default();
        for _ in 0..3 {
            let mut a = pin!(n.nudged());
            assert!(poll(a.as_mut()).is_pending());
        }
        let mut b = pin!(n.nudged());
        assert!(poll(b.as_mut()).is_pending());
        n.wake_all();
        assert!(poll(b.as_mut()).is_ready());
        let slots = n.lock();
        assert_eq!(slots.wakers.len(), 1, "slots are reused");
        assert!(slots.wakers.iter().all(Option::is_none));
    }

    #[tokio::test]
    async fn a_nudge_wakes_a_waiting_task() {
        let n = std::sync::Arc::new(Nudges::default());
        let waiting = {
            let n = std::sync::Arc::clone(&n);
            tokio::spawn(async move { n.nudged().await })
        };
        tokio::task::yield_now().await;
        n.wake_all();
        assert!(waiting.await.is_ok());
    }
}
