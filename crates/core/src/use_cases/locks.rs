//! Lock stripes serialising the writers of one cart within one process, so they wait for each
//! other instead of failing each other's compare-and-set.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use tokio::sync::{Mutex, MutexGuard};

use crate::ids::CartKey;

/// Stripes: enough that unrelated carts rarely share one.
const STRIPES: usize = 1024;

/// A fixed set of locks; a cart's lock is the stripe its key hashes to.
pub(crate) struct Stripes(Box<[Mutex<()>]>);

/// The locks a change holds: its cart's, and another cart's when it writes two (`None` when
/// there is no other, or it shares the first's stripe).
pub(crate) type Held<'a> = (MutexGuard<'a, ()>, Option<MutexGuard<'a, ()>>);

impl Default for Stripes {
    fn default() -> Self {
        Self((0..STRIPES).map(|_| Mutex::new(())).collect())
    }
}

impl Stripes {
    /// Locks the stripes of `a` and of `b`, in stripe order so two changes of the same pair
    /// cannot deadlock.
    pub(crate) async fn lock(&self, a: &CartKey, b: Option<&CartKey>) -> Held<'_> {
        let x = stripe(a);
        let Some(y) = b.map(stripe).filter(|&y| y != x) else {
            return (self.0[x].lock().await, None);
        };
        let first = self.0[x.min(y)].lock().await;
        let second = self.0[x.max(y)].lock().await;
        (first, Some(second))
    }
}

/// The stripe of a cart.
fn stripe(key: &CartKey) -> usize {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    // The modulo keeps the index below STRIPES, so the cast cannot truncate meaningfully.
    (hasher.finish() % STRIPES as u64) as usize
}
