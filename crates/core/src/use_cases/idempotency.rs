//! Idempotency keys, for every transport alike.
//!
//! The outcome of the first completed command under a key (scoped by the transport to caller
//! and cart) is recorded in the same atomic commit as the change, with the command's
//! fingerprint ([`Command::fingerprint`]), and replayed for retries. The same command retried
//! under the key, over any transport, is a replay; another command is
//! `IDEMPOTENCY_KEY_REUSED`; a retry while the first still runs in this process is
//! `IDEMPOTENCY_IN_FLIGHT`. Across processes the store's unique key decides: the loser of a
//! race replays the winner's record. Refused commands change nothing and are not recorded, so
//! a corrected retry under the same key is evaluated afresh.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;

use crate::command::{Command, FINGERPRINT_VERSION};
use crate::error::CartError;
use crate::ids::CartKey;
use crate::outcome::{Outcome, Written};
use crate::ports::IdempotencyRecord;

use super::change::RecordAs;
use super::{CartService, WriteOptions};

/// An idempotency key as a transport hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The key scoped to its caller and cart (opaque here).
    pub scoped: String,
    /// The digest a build before command fingerprints recorded for this very request (REST:
    /// method, path and body), so its records still replay. Records live for the idempotency
    /// TTL, so transports may stop sending it one TTL after every replica runs this build.
    pub legacy_fingerprint: Option<String>,
}

/// Scoped keys whose command is running in this process.
#[derive(Debug, Default)]
pub(crate) struct InFlight(Mutex<HashSet<String>>);

/// Releases an in-flight key when dropped (also when the request is cancelled).
struct Claim<'a> {
    registry: &'a InFlight,
    key: &'a str,
}

impl InFlight {
    /// Marks `key` as running, unless it already is.
    fn claim<'a>(&'a self, key: &'a str) -> Option<Claim<'a>> {
        let mut keys = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Lazily: a claim built and dropped here would release the key it did not get.
        keys.insert(key.to_owned()).then(|| Claim {
            registry: self,
            key,
        })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut keys = self.registry.0.lock().unwrap_or_else(|p| p.into_inner());
        keys.remove(self.key);
    }
}

impl CartService {
    /// [`CartService::execute`]: the idempotency wrapper around the use cases.
    pub(super) async fn execute_idempotently(
        &self,
        target: &CartKey,
        command: Command,
        options: WriteOptions,
    ) -> Result<Written, CartError> {
        let fingerprint = match &options.idempotency {
            Some(_) => command.fingerprint(target, options.precondition),
            None => String::new(),
        };
        self.idempotently(options.idempotency.as_ref(), &fingerprint, |record| {
            self.dispatch(target, command, &options, record)
        })
        .await
    }

    /// Runs a write once per idempotency key: replays the record of a key already used for
    /// the same command (`fingerprint`), refuses one used for another or still running, and
    /// otherwise runs `write`, which records its outcome under the key in its commit.
    pub(super) async fn idempotently<'a, W, F>(
        &self,
        key: Option<&'a IdempotencyKey>,
        fingerprint: &'a str,
        write: W,
    ) -> Result<Written, CartError>
    where
        W: FnOnce(Option<RecordAs<'a>>) -> F,
        F: Future<Output = Result<Outcome, CartError>>,
    {
        let Some(key) = key else {
            let outcome = write(None).await?;
            return Ok(Written {
                outcome,
                replayed: false,
            });
        };
        if let Some(record) = self.recorded(&key.scoped).await? {
            return replay(record, fingerprint, key);
        }
        let _claim = self
            .in_flight
            .claim(&key.scoped)
            .ok_or(CartError::IdempotencyInFlight)?;
        let record = RecordAs {
            scoped_key: &key.scoped,
            fingerprint,
        };
        match write(Some(record)).await {
            Ok(outcome) => Ok(Written {
                outcome,
                replayed: false,
            }),
            // Another request (another replica, or one that finished between our lookup and
            // our claim) committed this key first: answer as it did.
            Err(CartError::IdempotencyKeyCommitted) => match self.recorded(&key.scoped).await? {
                Some(record) => replay(record, fingerprint, key),
                None => Err(CartError::IdempotencyKeyCommitted),
            },
            Err(other) => Err(other),
        }
    }

    /// The unexpired record under a scoped key.
    async fn recorded(&self, scoped_key: &str) -> Result<Option<IdempotencyRecord>, CartError> {
        Ok(self
            .store
            .idempotency_record(scoped_key, self.clock.now())
            .await?)
    }
}

/// The recorded outcome, if the record is of the same command.
fn replay(
    record: IdempotencyRecord,
    fingerprint: &str,
    key: &IdempotencyKey,
) -> Result<Written, CartError> {
    let same = if record.fingerprint.starts_with(FINGERPRINT_VERSION) {
        record.fingerprint == fingerprint
    } else {
        key.legacy_fingerprint.as_deref() == Some(record.fingerprint.as_str())
    };
    if !same {
        return Err(CartError::IdempotencyKeyReused);
    }
    Ok(Written {
        outcome: record.outcome,
        replayed: true,
    })
}
