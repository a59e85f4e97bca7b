//! The relay's side of the DynamoDB outbox: the relay lease, publication marks, pruning and
//! stats.
//!
//! Events get gap-free `seq` numbers in commit order (the conditioned counter), and only the
//! lease holder publishes, always the oldest pending events first. So "published" is a prefix of
//! the outbox partition, kept as a cursor rather than a flag per item:
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | publication cursor | `OUTBOX` | `#CURSOR` | `seq` of the last published event |
//! | relay lease | `OUTBOX` | `#LEASE` | `holder`, `expires_at` (ms) |
//!
//! - **Pending** events are `sk BETWEEN EV#<cursor + 1> AND EV#<max>`, read consistently (the
//!   `#…` items sort before every `EV#…` and stay out of the range).
//! - **Lease**: a conditional `UpdateItem` (`attribute_not_exists(pk) OR holder = :h OR
//!   expires_at <= :now`); a failed condition means another relay holds it.
//! - **Marks** are one `TransactWriteItems`: a `ConditionCheck` that `holder` holds an unexpired
//!   lease, and the cursor moved to the largest `seq` marked (conditional on moving forward). A
//!   failed lease check is [`StoreError::LeaseLost`]; a cursor already there means the events
//!   were marked before, which is not an error.
//! - **Commit time** is the event item's `at` (ms), written by the commit; items from before that
//!   attribute existed fall back to the event's `occurred_at`.
//! - **Pruning** keeps no publish time: it deletes published items (up to the cursor) whose commit
//!   time is before the cutoff, oldest first, stopping at the first one that is not, with
//!   `BatchWriteItem` in chunks of 25 (unprocessed items are retried).
//!
//! Every call runs under the client's operation timeout.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    ConditionCheck, DeleteRequest, TransactWriteItem, Update, WriteRequest,
};
use time::OffsetDateTime;

use cart_core::{CartEvent, Outbox, OutboxEntry, OutboxStats, StoreError};

use super::{DynamoStore, Item, build_error, key, n, number, s, sdk_error, string};
use crate::columns::{from_millis, json_error, millis};

/// The outbox partition.
const OUTBOX: &str = "OUTBOX";

/// The cursor item's sort key.
const CURSOR: &str = "#CURSOR";

/// The lease item's sort key.
const LEASE: &str = "#LEASE";

/// The largest event sort key: the upper bound of every range of events.
const LAST_EVENT: &str = "EV#99999999999999999999";

/// Deletes one `BatchWriteItem` may carry.
const BATCH_WRITE: usize = 25;

/// Rounds of retrying unprocessed deletes before giving up for now.
const UNPROCESSED_RETRIES: u32 = 8;

/// The sort key of event `seq`.
pub(super) fn event_sk(seq: i64) -> String {
    format!("EV#{seq:020}")
}

/// When the event item was committed: its `at`, else its event's `occurred_at`.
fn committed_at(item: &Item) -> Result<i64, StoreError> {
    if item.contains_key("at") {
        return number(item, "at");
    }
    let event: CartEvent = serde_json::from_str(&string(item, "event")?).map_err(json_error)?;
    Ok(millis(event.occurred_at))
}

/// Whether a failed call failed on its condition.
fn condition_failed<E, R>(
    e: &aws_sdk_dynamodb::error::SdkError<E, R>,
    check: impl Fn(&E) -> bool,
) -> bool {
    e.as_service_error().is_some_and(check)
}

impl DynamoStore {
    /// The `seq` of the last published event (0: none yet).
    async fn cursor(&self) -> Result<i64, StoreError> {
        match self.get(key(OUTBOX, CURSOR)).await? {
            Some(item) => number(&item, "seq"),
            None => Ok(0),
        }
    }

    /// Up to `limit` event items with `sk` in `from..=to`, in `seq` order, stopping early when
    /// `keep` says no.
    async fn event_items(
        &self,
        from: String,
        to: String,
        limit: usize,
        mut keep: impl FnMut(&Item) -> Result<bool, StoreError>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        while items.len() < limit {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(OUTBOX))
                .expression_attribute_values(":from", s(&from))
                .expression_attribute_values(":to", s(&to))
                .consistent_read(true)
                .limit(i32::try_from(limit - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for item in page.items.unwrap_or_default() {
                if !keep(&item)? {
                    return Ok(items);
                }
                items.push(item);
            }
            match page.last_evaluated_key {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        Ok(items)
    }

    /// Up to `limit` events after the publication cursor, oldest first.
    pub(super) async fn events_after_cursor(
        &self,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let cursor = self.cursor().await?;
        let items = self
            .event_items(event_sk(cursor + 1), LAST_EVENT.into(), limit, |_| Ok(true))
            .await?;
        items
            .iter()
            .map(|item| {
                Ok(OutboxEntry {
                    seq: number(item, "seq")? as u64,
                    event: serde_json::from_str(&string(item, "event")?).map_err(json_error)?,
                })
            })
            .collect()
    }

    /// Whether `holder` holds an unexpired lease at `now` (a consistent read).
    async fn holds_lease(&self, holder: &str, now: i64) -> Result<bool, StoreError> {
        Ok(match self.get(key(OUTBOX, LEASE)).await? {
            Some(item) => string(&item, "holder")? == holder && number(&item, "expires_at")? > now,
            None => false,
        })
    }

    /// Deletes `keys`, retrying what DynamoDB leaves unprocessed; returns how many it deleted.
    async fn delete_all(&self, keys: Vec<Item>) -> Result<usize, StoreError> {
        let mut deleted = 0;
        for chunk in keys.chunks(BATCH_WRITE) {
            let mut requests = chunk
                .iter()
                .map(|k| {
                    Ok(WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .set_key(Some(k.clone()))
                                .build()
                                .map_err(build_error)?,
                        )
                        .build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut round = 0;
            while !requests.is_empty() {
                if round == UNPROCESSED_RETRIES {
                    return Err(StoreError::Unavailable(
                        "DynamoDB left outbox deletes unprocessed".into(),
                    ));
                }
                if round > 0 {
                    tokio::time::sleep(Duration::from_millis(10 << round)).await;
                }
                round += 1;
                let sent = requests.len();
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.table))
                    .unwrap_or_default();
                deleted += sent - requests.len();
            }
        }
        Ok(deleted)
    }
}

#[async_trait]
impl Outbox for DynamoStore {
    async fn acquire_relay_lease(
        &self,
        holder: &str,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<bool, StoreError> {
        let outcome = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(OUTBOX, LEASE)))
            .update_expression("SET #holder = :h, #exp = :until")
            .condition_expression("attribute_not_exists(pk) OR #holder = :h OR #exp <= :now")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":h", s(holder))
            .expression_attribute_values(":until", n(millis(now + ttl)))
            .expression_attribute_values(":now", n(millis(now)))
            .send()
            .await;
        match outcome {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e, |e| e.is_conditional_check_failed_exception()) => {
                Ok(false)
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn release_relay_lease(&self, holder: &str) -> Result<(), StoreError> {
        let outcome = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(OUTBOX, LEASE)))
            .condition_expression("#holder = :h")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":h", s(holder))
            .send()
            .await;
        match outcome {
            Ok(_) => Ok(()),
            // Held by another relay (or nobody): nothing to give up.
            Err(e) if condition_failed(&e, |e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn mark_published(
        &self,
        holder: &str,
        seqs: &[u64],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let now = millis(now);
        let Some(&last) = seqs.iter().max() else {
            return if self.holds_lease(holder, now).await? {
                Ok(())
            } else {
                Err(StoreError::LeaseLost)
            };
        };
        let last = i64::try_from(last).unwrap_or(i64::MAX);
        let lease = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(OUTBOX, LEASE)))
            .condition_expression("#holder = :h AND #exp > :now")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":h", s(holder))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build_error)?;
        let cursor = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(OUTBOX, CURSOR)))
            .update_expression("SET #seq = :seq")
            .condition_expression("attribute_not_exists(pk) OR #seq < :seq")
            .expression_attribute_names("#seq", "seq")
            .expression_attribute_values(":seq", n(last))
            .build()
            .map_err(build_error)?;
        let outcome = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(lease).build())
            .transact_items(TransactWriteItem::builder().update(cursor).build())
            .send()
            .await;
        let error = match outcome {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            error.as_service_error()
        else {
            return Err(sdk_error(error));
        };
        let failed = |i: usize| {
            cancelled
                .cancellation_reasons()
                .get(i)
                .and_then(|reason| reason.code())
                == Some("ConditionalCheckFailed")
        };
        if failed(0) {
            Err(StoreError::LeaseLost)
        } else if failed(1) {
            // The cursor is at or past these events already: they were marked before.
            Ok(())
        } else {
            // A conflicting transaction (or throttling): worth retrying.
            Err(StoreError::Unavailable(format!(
                "marking events published was cancelled: {cancelled:?}"
            )))
        }
    }

    async fn prune_published(
        &self,
        before: OffsetDateTime,
        batch: usize,
    ) -> Result<usize, StoreError> {
        let cursor = self.cursor().await?;
        if cursor == 0 || batch == 0 {
            return Ok(0);
        }
        let before = millis(before);
        let items = self
            .event_items(event_sk(1), event_sk(cursor), batch, |item| {
                Ok(committed_at(item)? < before)
            })
            .await?;
        let keys = items
            .iter()
            .map(|item| Ok(key(OUTBOX, string(item, "sk")?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.delete_all(keys).await
    }

    async fn outbox_stats(&self, _now: OffsetDateTime) -> Result<OutboxStats, StoreError> {
        let cursor = self.cursor().await?;
        let last = match self.get(key(OUTBOX, "#SEQ")).await? {
            Some(item) => number(&item, "n")?,
            None => 0,
        };
        let first = self
            .event_items(event_sk(cursor + 1), LAST_EVENT.into(), 1, |_| Ok(true))
            .await?;
        Ok(OutboxStats {
            depth: u64::try_from(last - cursor).unwrap_or(0),
            oldest_pending_at: first
                .first()
                .map(|item| committed_at(item).and_then(from_millis))
                .transpose()?,
        })
    }
}
