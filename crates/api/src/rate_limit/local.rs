//! Budgets kept in this process: `governor`'s keyed GCRA limiter.

use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, RateLimiter};

use super::{Bucket, Quota};

/// Token buckets keyed by [`Bucket`], in memory.
pub struct LocalRateLimit {
    limiter: DefaultKeyedRateLimiter<Bucket>,
    clock: DefaultClock,
}

impl LocalRateLimit {
    /// Budgets of `quota` per bucket.
    pub fn new(quota: Quota) -> Self {
        Self {
            limiter: RateLimiter::keyed(
                governor::Quota::per_second(quota.rate).allow_burst(quota.burst),
            ),
            clock: DefaultClock::default(),
        }
    }

    /// Charges each bucket in turn and stops at the first that is empty. Buckets before it keep
    /// their charge: governor cannot test a bucket without taking from it, and a request refused
    /// for one of its identities is still traffic from the others.
    pub fn check(&self, buckets: &[Bucket]) -> Result<(), Duration> {
        for bucket in buckets {
            self.limiter
                .check_key(bucket)
                .map_err(|not_until| not_until.wait_time_from(self.clock.now()))?;
        }
        Ok(())
    }

    /// Forgets clients whose buckets are full again, so memory follows active clients only.
    pub fn forget_idle_clients(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}
