//! Order numbers handed out from blocks reserved in the `sequences` table.
//!
//! Taking each number in a write of its own cost every checkout a second pass of the single
//! writer (a transaction, a WAL frame for the sequence's page, the locks around it) before its
//! real commit. The embedded store serves one process, so that process reserves
//! [`BLOCK`] numbers in one write and hands them out from memory, as a PostgreSQL sequence with
//! `CACHE` does per session. Numbers stay unique and increasing in the order this process gives
//! them; a restart skips what was left of its block (numbers already had gaps: a checkout
//! refused after taking one leaves it unused). Several processes on one database file would
//! each hand out their own blocks, unique but interleaved; the server stores keep one exact
//! sequence (`docs/DECISIONS.md`, "Checkout and orders").

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;

use cart_core::StoreError;
use tokio::sync::Mutex;

/// Numbers reserved per write.
pub(super) const BLOCK: u64 = 32;

/// The unused rest of each sequence's reserved block.
#[derive(Default)]
pub(super) struct NumberBlocks {
    blocks: Mutex<HashMap<String, Range<u64>>>,
}

impl NumberBlocks {
    /// The next number of `sequence`. When its block is used up, `reserve` moves the stored
    /// sequence on by [`BLOCK`] and returns the last number it now covers. The lock is held
    /// across that write, so two callers never reserve for one gap.
    pub(super) async fn next<F, Fut>(&self, sequence: &str, reserve: F) -> Result<u64, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<u64, StoreError>>,
    {
        let mut blocks = self.blocks.lock().await;
        if let Some(block) = blocks.get_mut(sequence)
            && let Some(number) = block.next()
        {
            return Ok(number);
        }
        let last = reserve().await?;
        let mut block = last.saturating_sub(BLOCK) + 1..last + 1;
        let number = block.next().ok_or_else(|| {
            StoreError::Internal(format!("sequence {sequence} reserved an empty block"))
        })?;
        blocks.insert(sequence.to_owned(), block);
        Ok(number)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[tokio::test]
    async fn numbers_come_from_one_reservation_per_block_and_follow_on() {
        let stored = AtomicU64::new(0);
        let writes = AtomicU64::new(0);
        let blocks = NumberBlocks::default();
        let reserve = || async {
            writes.fetch_add(1, Ordering::SeqCst);
            Ok(stored.fetch_add(BLOCK, Ordering::SeqCst) + BLOCK)
        };
        let mut numbers = Vec::new();
        for _ in 0..BLOCK + 1 {
            numbers.push(blocks.next("orders", reserve).await.expect("number"));
        }
        assert_eq!(numbers, (1..=BLOCK + 1).collect::<Vec<_>>());
        assert_eq!(writes.load(Ordering::SeqCst), 2, "one write per block");
        // A restart (new blocks over the same stored sequence) goes on after the reserved block.
        let restarted = NumberBlocks::default();
        assert_eq!(
            restarted.next("orders", reserve).await.expect("number"),
            2 * BLOCK + 1
        );
        // Each sequence has its own block.
        let other = AtomicU64::new(0);
        let first_other = blocks
            .next("other", || async {
                Ok(other.fetch_add(BLOCK, Ordering::SeqCst) + BLOCK)
            })
            .await;
        assert_eq!(first_other.expect("number"), 1);
    }

    #[tokio::test]
    async fn a_failed_reservation_hands_out_nothing() {
        let blocks = NumberBlocks::default();
        let failed = blocks
            .next("orders", || async {
                Err(StoreError::Unavailable("disk full".into()))
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Unavailable(_))));
        let next = blocks.next("orders", || async { Ok(BLOCK) }).await;
        assert_eq!(next.expect("number"), 1);
    }
}
