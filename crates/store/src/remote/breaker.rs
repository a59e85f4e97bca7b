//! A circuit breaker for the remote catalog: closed → open after `failures` failures within
//! `window` → half-open after `cooldown`, where one probe call decides: success closes it,
//! failure opens it again.
//!
//! Written here (about a hundred lines) rather than taken from a crate: the circuit-breaker
//! crates on crates.io are young single-maintainer releases, and cartd needs things they do not
//! all expose: the state readable without a call (for `/ready` and the metrics), the time left
//! open (for `Retry-After`), and exactly one probe in flight while half-open.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When the breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Failures within `window` that open the breaker.
    pub failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long the breaker stays open before a probe is let through.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    /// 5 failures within 30 s open it for 10 s.
    fn default() -> Self {
        Self {
            failures: 5,
            window: Duration::from_secs(30),
            cooldown: Duration::from_secs(10),
        }
    }
}

/// The breaker's state, as `/ready` and the metrics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the cooldown ends.
    Open,
    /// The cooldown ended: one probe call is let through to decide.
    HalfOpen,
}

impl BreakerState {
    /// The state's number in `cartd_catalog_breaker_state` (0 closed, 1 open, 2 half-open).
    pub fn gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::Open => 1.0,
            Self::HalfOpen => 2.0,
        }
    }
}

#[derive(Debug)]
enum State {
    Closed { failures: VecDeque<Instant> },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// The breaker. Callers ask [`Breaker::admit`] before a call and report its outcome with
/// [`Breaker::record`].
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: Mutex<State>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::Closed {
                failures: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lets a call go out now, or says how long until one may. Report the call's outcome on
    /// the permit; a permit dropped unreported (the caller gave up) frees a half-open probe
    /// slot without judging the remote.
    pub fn admit(&self) -> Result<Permit<'_>, Duration> {
        let now = Instant::now();
        let mut state = self.lock();
        let probe = match &mut *state {
            State::Closed { .. } => false,
            State::Open { until } if now < *until => return Err(*until - now),
            State::Open { .. } => {
                *state = State::HalfOpen { probing: true };
                true
            }
            State::HalfOpen { probing: true } => return Err(Duration::from_secs(1)),
            State::HalfOpen { probing } => {
                *probing = true;
                true
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            reported: false,
        })
    }

    fn record(&self, succeeded: bool) {
        let now = Instant::now();
        let mut state = self.lock();
        let next = match (&mut *state, succeeded) {
            (State::Closed { failures }, true) => {
                failures.clear();
                return;
            }
            (State::Closed { failures }, false) => {
                failures.push_back(now);
                while failures
                    .front()
                    .is_some_and(|first| now.duration_since(*first) > self.config.window)
                {
                    failures.pop_front();
                }
                if failures.len() < self.config.failures as usize {
                    return;
                }
                // Log lines as well as the state gauge: where no Prometheus scrapes (AWS
                // Lambda), a log-based alarm watches for these.
                tracing::warn!(
                    cooldown_ms = self.config.cooldown.as_millis() as u64,
                    "the catalog circuit breaker opened"
                );
                State::Open {
                    until: now + self.config.cooldown,
                }
            }
            (State::HalfOpen { .. }, true) => {
                tracing::info!("the catalog circuit breaker closed");
                State::Closed {
                    failures: VecDeque::new(),
                }
            }
            (State::HalfOpen { .. }, false) => {
                tracing::warn!(
                    cooldown_ms = self.config.cooldown.as_millis() as u64,
                    "the catalog circuit breaker opened"
                );
                State::Open {
                    until: now + self.config.cooldown,
                }
            }
            // A call admitted before the breaker opened: its outcome changes nothing now.
            (State::Open { .. }, _) => return,
        };
        *state = next;
    }

    /// How long the breaker stays open, if it is open.
    pub fn open_for(&self) -> Option<Duration> {
        match &*self.lock() {
            State::Open { until } => until.checked_duration_since(Instant::now()),
            _ => None,
        }
    }

    /// The state now (an open breaker past its cooldown reads as half-open).
    pub fn state(&self) -> BreakerState {
        match &*self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if Instant::now() < *until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

/// Leave for one call through the breaker.
#[derive(Debug)]
#[must_use = "report the call's outcome with `succeeded` or `failed`"]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    reported: bool,
}

impl Permit<'_> {
    /// The call worked.
    pub fn succeeded(mut self) {
        self.reported = true;
        self.breaker.record(true);
    }

    /// The call failed.
    pub fn failed(mut self) {
        self.reported = true;
        self.breaker.record(false);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            let mut state = self.breaker.lock();
            if let State::HalfOpen { probing } = &mut *state {
                *probing = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(cooldown: Duration) -> Breaker {
        Breaker::new(BreakerConfig {
            failures: 3,
            window: Duration::from_secs(60),
            cooldown,
        })
    }

    fn call(breaker: &Breaker, succeeded: bool) {
        let permit = breaker.admit().expect("admitted");
        if succeeded {
            permit.succeeded();
        } else {
            permit.failed();
        }
    }

    #[test]
    fn it_opens_after_enough_failures_and_a_success_resets_the_count() {
        let breaker = breaker(Duration::from_secs(60));
        for outcome in [false, false, true, false, false] {
            call(&breaker, outcome);
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        call(&breaker, false);
        assert_eq!(breaker.state(), BreakerState::Open);
        let wait = breaker.admit().expect_err("open");
        assert!(wait > Duration::from_secs(50), "{wait:?}");
    }

    #[test]
    fn half_open_lets_one_probe_through_and_its_outcome_decides() {
        let breaker = breaker(Duration::ZERO);
        for _ in 0..3 {
            call(&breaker, false);
        }
        assert_eq!(breaker.state(), BreakerState::HalfOpen, "cooldown over");
        let probe = breaker.admit().expect("the probe");
        assert!(breaker.admit().is_err(), "only one probe at a time");
        probe.failed();
        let probe = breaker.admit().expect("open again, then the next probe");
        drop(probe);
        let probe = breaker.admit().expect("an abandoned probe frees its slot");
        probe.succeeded();
        assert_eq!(breaker.state(), BreakerState::Closed);
        let (first, second) = (breaker.admit(), breaker.admit());
        assert!(first.is_ok() && second.is_ok(), "closed: no limit");
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let breaker = Breaker::new(BreakerConfig {
            failures: 2,
            window: Duration::ZERO,
            cooldown: Duration::from_secs(60),
        });
        call(&breaker, false);
        std::thread::sleep(Duration::from_millis(5));
        call(&breaker, false);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}
