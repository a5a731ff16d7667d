//! Budgets of bytes in flight: what frames being received or sent may hold, per connection
//! and for a whole endpoint.

use std::fmt;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A number of bytes that frames in flight may hold together. Cheap to clone: clones share
/// the budget.
#[derive(Clone)]
pub struct ByteBudget {
    semaphore: Arc<Semaphore>,
    capacity: usize,
}

impl fmt::Debug for ByteBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteBudget")
            .field("capacity", &self.capacity)
            .field("in_use", &self.in_use())
            .finish()
    }
}

impl ByteBudget {
    /// A budget of `capacity` bytes (capped at what a semaphore can count).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.min(Semaphore::MAX_PERMITS);
        Self {
            semaphore: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// A sender's pacing budget toward a receiver that holds `receiver` bytes per
    /// connection: three quarters of it, the last quarter left for the answers the receiver
    /// holds until they are acknowledged (at least one largest frame with its prefix).
    pub fn pacing(receiver: usize) -> Self {
        let frame = streha_wire::MAX_FRAME_LEN + streha_wire::frame::PREFIX_LEN;
        Self::new((receiver / 4 * 3).max(frame.min(receiver)))
    }

    /// The budget's size.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes held now.
    pub fn in_use(&self) -> usize {
        self.capacity
            .saturating_sub(self.semaphore.available_permits())
    }

    /// Holds `bytes`, waiting until the budget has them (in order of asking). For a
    /// sender pacing itself, whose bytes are not sent yet: a server never waits
    /// ([`FrameBudget::try_reserve`]).
    ///
    /// # Errors
    /// [`OverBudget`] if `bytes` exceeds the budget's size.
    pub async fn acquire(&self, bytes: usize) -> Result<Reservation, OverBudget> {
        let over = OverBudget {
            bytes,
            capacity: self.capacity,
        };
        let n = match u32::try_from(bytes) {
            Ok(n) if bytes <= self.capacity => n,
            _ => return Err(over),
        };
        // The semaphore is never closed.
        let permit = Arc::clone(&self.semaphore)
            .acquire_many_owned(n)
            .await
            .map_err(|_| over)?;
        Ok(Reservation {
            _connection: Some(permit),
            _shared: None,
            bytes,
        })
    }
}

/// What the frames of one connection may hold: the connection's own budget and the budget
/// of the whole endpoint (or node) it shares with every other connection. A frame holds its
/// bytes in both.
#[derive(Debug, Clone)]
pub struct FrameBudget {
    connection: ByteBudget,
    shared: ByteBudget,
}

/// Bytes held in a [`FrameBudget`]; given back on drop.
#[derive(Debug)]
#[must_use = "the bytes are given back when the reservation is dropped"]
pub struct Reservation {
    _connection: Option<OwnedSemaphorePermit>,
    _shared: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

impl Reservation {
    /// A reservation of nothing (for frames read without a budget).
    pub fn none() -> Self {
        Self {
            _connection: None,
            _shared: None,
            bytes: 0,
        }
    }

    /// The bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// A frame larger than the budget itself: it could never be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{bytes} bytes exceed the budget of {capacity} bytes for frames in flight")]
pub struct OverBudget {
    /// The bytes asked for.
    pub bytes: usize,
    /// The smaller of the two budgets.
    pub capacity: usize,
}

impl FrameBudget {
    /// The budget of one connection (`connection`, its own) within `shared` (the
    /// endpoint's or node's, shared with the other connections).
    pub fn new(connection: ByteBudget, shared: ByteBudget) -> Self {
        Self { connection, shared }
    }

    /// The connection's own budget.
    pub fn connection(&self) -> &ByteBudget {
        &self.connection
    }

    /// The budget shared with the other connections.
    pub fn shared(&self) -> &ByteBudget {
        &self.shared
    }

    fn check(&self, bytes: usize) -> Result<u32, OverBudget> {
        let capacity = self.connection.capacity.min(self.shared.capacity);
        match u32::try_from(bytes) {
            Ok(n) if bytes <= capacity => Ok(n),
            _ => Err(OverBudget { bytes, capacity }),
        }
    }

    /// Holds `bytes` if both budgets have them now; nobody waits for memory (a frame
    /// waiting for its bytes would leave its data in the QUIC buffers, where it would hold
    /// the connection's receive window from the frames being read).
    ///
    /// # Errors
    /// [`OverBudget`] if `bytes` exceeds either budget's size (it could never be held);
    /// `Ok(None)` if the budgets cannot hold it now.
    pub fn try_reserve(&self, bytes: usize) -> Result<Option<Reservation>, OverBudget> {
        let n = self.check(bytes)?;
        Ok(self.try_acquire(n, bytes))
    }

    fn try_acquire(&self, n: u32, bytes: usize) -> Option<Reservation> {
        let connection = Arc::clone(&self.connection.semaphore)
            .try_acquire_many_owned(n)
            .ok()?;
        let shared = Arc::clone(&self.shared.semaphore)
            .try_acquire_many_owned(n)
            .ok()?;
        Some(Reservation {
            _connection: Some(connection),
            _shared: Some(shared),
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sender_waits_for_its_bytes_in_order() {
        let budget = ByteBudget::new(10);
        let held = budget.acquire(8).await.unwrap();
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.acquire(5).await.map(|r| r.bytes()) })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(held);
        assert_eq!(waiting.await.unwrap(), Ok(5));
        assert_eq!(budget.in_use(), 0);
        assert!(budget.acquire(11).await.is_err());
    }

    #[test]
    fn a_connection_cannot_take_more_than_its_own_budget_of_the_shared_one() {
        let shared = ByteBudget::new(100);
        let a = FrameBudget::new(ByteBudget::new(40), shared.clone());
        let b = FrameBudget::new(ByteBudget::new(40), shared.clone());
        let held_a = a.try_reserve(40).unwrap().unwrap();
        assert!(
            a.try_reserve(1).unwrap().is_none(),
            "a is at its own budget"
        );
        let held_b = b.try_reserve(30).unwrap().unwrap();
        assert_eq!(shared.in_use(), 70);
        assert_eq!(a.connection().in_use(), 40);
        drop(held_a);
        assert_eq!(shared.in_use(), 30);
        assert!(a.try_reserve(40).unwrap().is_some());
        drop(held_b);
        assert_eq!(shared.in_use(), 0);
        assert_eq!(
            a.try_reserve(41).unwrap_err(),
            OverBudget {
                bytes: 41,
                capacity: 40
            }
        );
        // The shared budget is spent by others: nothing for a, though its own has room.
        let c = FrameBudget::new(ByteBudget::new(100), shared.clone());
        let held_c = c.try_reserve(90).unwrap().unwrap();
        assert!(a.try_reserve(20).unwrap().is_none());
        assert_eq!(
            a.connection().in_use(),
            0,
            "a failed reservation holds nothing"
        );
        drop(held_c);
        assert!(a.try_reserve(20).unwrap().is_some());
    }
}
