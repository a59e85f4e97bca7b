//! The DynamoDB backend (feature `dynamodb`): one table, every commit one `TransactWriteItems`
//! with a condition on each cart's version. The single-table design is in `docs/DECISIONS.md`:
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | cart | `CART#<cart key>` | `CART` | `version`, `cart_id`, `expires_at` (ms), `doc`, `ttl` (s) |
//! | idempotency record | `IDEM#<scoped key>` | `IDEM` | `fp`, `resp`, `expires_at` (ms), `ttl` (s) |
//! | outbox event | `OUTBOX` | `EV#<seq, 20 digits>` | `seq`, `at` (commit time, ms), `event` |
//! | outbox counter | `OUTBOX` | `#SEQ` | `n` |
//! | publication cursor, relay lease | `OUTBOX` | `#CURSOR`, `#LEASE` | see [`outbox`] |
//! | product | `PRODUCT` | `<id>` | `name`, `unit_price`, `currency`, `active`, `stock`, `tax_class` |
//! | pricing setting | `PRICING#<kind>` | `<region or code>` | `doc` (the JSON document) |
//! | record (order, stock level, …) | `REC#<kind>` | `<record key>` | `version`, `body` |
//! | sequence (order numbers) | `SEQ#<name>` | `SEQ` | `n`, the last number given |
//!
//! The outbox's sequence numbers come from a counter item updated, with a condition on its value,
//! in the same transaction as the events: two commits racing for the same numbers cannot both
//! succeed, and the loser retries with fresh numbers. That serialises commits that write events
//! (all of them) through one item, which caps write throughput per table. The relay
//! (`cart-events`) reads the outbox items after its cursor ([`outbox`]); it does not read
//! DynamoDB Streams. Reading the stream instead would lift the cap, and is not done.
//!
//! Records are written in the commit's `TransactWriteItems`, after the carts, the outbox items
//! and the idempotency record, each conditional on its version. A partition per kind lets a
//! `Query` list keys by prefix in byte order (a sort key of type `S` is ordered bytewise); every
//! record of a kind shares that partition's throughput.

mod outbox;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, KeySchemaElement,
    KeyType, Put, ReturnValue, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
    Update,
};
use time::OffsetDateTime;

use cart_core::{
    Cart, CartKey, CartStamp, CartWrite, Catalog, Commit, IdempotencyRecord, KEPT_AFTER_EXPIRY,
    OutboxEntry, PricingKind, PricingSettings, Product, ProductId, RecordKind, RecordWrite,
    Records, Store, StoreError, StoredRecord, SweepReport,
};

use crate::columns::{self, from_millis, json_error, millis, version_column};
use crate::url::DynamoOptions;

/// How long DynamoDB keeps a cart after it expired or ended: a day longer than the sweeper
/// ([`KEPT_AFTER_EXPIRY`]), so the sweeper deletes it first, and the table's TTL still
/// forgets it where no replica sweeps.
const GRACE_MS: i64 = (KEPT_AFTER_EXPIRY.whole_milliseconds() + DAY_MS) as i64;

/// A day in milliseconds.
const DAY_MS: i128 = 24 * 3600 * 1000;

/// Commits retried when another commit took the same outbox numbers first.
const SEQUENCE_RETRIES: usize = 64;

/// The DynamoDB store and catalog.
pub struct DynamoStore {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn cart_pk(cart: &CartKey) -> String {
    format!("CART#{}", cart.as_str())
}

/// The partition holding every record of `kind`; the record key is the sort key.
fn record_pk(kind: RecordKind) -> String {
    format!("REC#{}", kind.as_str())
}

/// A record from its item.
fn record_from_item(item: &Item) -> Result<StoredRecord, StoreError> {
    Ok(StoredRecord {
        key: string(item, "sk")?,
        version: number(item, "version")? as u64,
        body: string(item, "body")?,
    })
}

fn sdk_error<E: std::fmt::Debug, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            StoreError::Unavailable(format!("{e:?}"))
        }
        _ => StoreError::Internal(format!("{e:?}")),
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Internal(format!("request: {e}"))
}

fn string(item: &Item, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value.clone()),
        _ => Err(StoreError::Internal(format!("stored item lacks {name}"))),
    }
}

fn number(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => value
            .parse()
            .map_err(|_| StoreError::Internal(format!("stored {name} is not an integer"))),
        _ => Err(StoreError::Internal(format!("stored item lacks {name}"))),
    }
}

impl DynamoStore {
    /// Connects, and creates the table (with its TTL attribute) when asked and missing.
    pub async fn open(options: &DynamoOptions) -> Result<Self, StoreError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(options.region.clone()))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(options.timeout)
                    .connect_timeout(options.timeout)
                    .build(),
            );
        if let Some(endpoint) = &options.endpoint {
            loader = loader.endpoint_url(endpoint);
            // A local emulator (DynamoDB Local, moto) needs credentials of some kind; give it
            // placeholders when none are configured.
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "local",
                    "local",
                    None,
                    None,
                    "cartd-local",
                ));
            }
        }
        let client = Client::new(&loader.load().await);
        let store = Self {
            client,
            table: options.table.clone(),
        };
        match store
            .client
            .describe_table()
            .table_name(&store.table)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if options.create => {
                tracing::info!(table = %store.table, error = ?e, "creating the DynamoDB table");
                store.create_table().await?;
            }
            Err(e) => {
                return Err(StoreError::Unavailable(format!(
                    "DynamoDB table {} is not there ({e:?}); run `cartd migrate` with `create=true`",
                    store.table
                )));
            }
        }
        Ok(store)
    }

    async fn create_table(&self) -> Result<(), StoreError> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)
        };
        let element = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(build_error)
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk")?)
            .attribute_definitions(attribute("sk")?)
            .key_schema(element("pk", KeyType::Hash)?)
            .key_schema(element("sk", KeyType::Range)?)
            .send()
            .await
            .map_err(sdk_error)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("ttl")
                    .enabled(true)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.item)
    }

    fn cart_write(&self, write: &CartWrite) -> Result<TransactWriteItem, StoreError> {
        let pk = cart_pk(&write.key);
        let condition = |builder_expected: Option<u64>| match builder_expected {
            Some(expected) => (
                "version = :expected".to_owned(),
                Some(n(version_column(expected))),
            ),
            None => ("attribute_not_exists(pk)".to_owned(), None),
        };
        let (expression, expected) = condition(write.expected_version);
        let item = match &write.new_state {
            Some(cart) => {
                let mut item = key(pk, "CART");
                item.insert("version".into(), n(version_column(cart.version())));
                item.insert("cart_id".into(), s(cart.id().to_string()));
                item.insert("expires_at".into(), n(millis(cart.expires_at())));
                item.insert(
                    "doc".into(),
                    s(serde_json::to_string(&**cart).map_err(json_error)?),
                );
                item.insert(
                    "ttl".into(),
                    n((millis(cart.expires_at()) + GRACE_MS) / 1000),
                );
                TransactWriteItem::builder().put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression(expression)
                        .set_expression_attribute_values(
                            expected.map(|v| HashMap::from([(":expected".to_owned(), v)])),
                        )
                        .build()
                        .map_err(build_error)?,
                )
            }
            None if write.expected_version.is_some() => TransactWriteItem::builder().delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(pk, "CART")))
                    .condition_expression(expression)
                    .set_expression_attribute_values(
                        expected.map(|v| HashMap::from([(":expected".to_owned(), v)])),
                    )
                    .build()
                    .map_err(build_error)?,
            ),
            None => TransactWriteItem::builder().condition_check(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(pk, "CART")))
                    .condition_expression(expression)
                    .build()
                    .map_err(build_error)?,
            ),
        };
        Ok(item.build())
    }

    /// One record's part of a commit: a put or a delete conditional on the version (on there
    /// being no item for a create), or only that condition when nothing is written.
    fn record_write(&self, write: &RecordWrite) -> Result<TransactWriteItem, StoreError> {
        let item_key = key(record_pk(write.kind), write.key.as_str());
        let (condition, expected) = match write.expected_version {
            Some(v) => (
                "version = :expected",
                Some(HashMap::from([(
                    ":expected".to_owned(),
                    n(version_column(v)),
                )])),
            ),
            None => ("attribute_not_exists(pk)", None),
        };
        let item = match (&write.body, write.expected_version) {
            (Some(body), _) => {
                let mut item = item_key;
                item.insert("version".into(), n(version_column(write.new_version())));
                item.insert("body".into(), s(body));
                TransactWriteItem::builder().put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression(condition)
                        .set_expression_attribute_values(expected)
                        .build()
                        .map_err(build_error)?,
                )
            }
            (None, Some(_)) => TransactWriteItem::builder().delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(item_key))
                    .condition_expression(condition)
                    .set_expression_attribute_values(expected)
                    .build()
                    .map_err(build_error)?,
            ),
            (None, None) => TransactWriteItem::builder().condition_check(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(item_key))
                    .condition_expression(condition)
                    .build()
                    .map_err(build_error)?,
            ),
        };
        Ok(item.build())
    }

    /// The version stored under `cart` now.
    async fn current_version(&self, cart: &CartKey) -> Result<Option<u64>, StoreError> {
        let item = self.get(key(cart_pk(cart), "CART")).await?;
        item.map(|item| number(&item, "version").map(|v| v as u64))
            .transpose()
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn load_cart(&self, cart: &CartKey) -> Result<Option<Cart>, StoreError> {
        let item = self.get(key(cart_pk(cart), "CART")).await?;
        item.map(|item| serde_json::from_str(&string(&item, "doc")?).map_err(json_error))
            .transpose()
    }

    async fn cart_stamp(&self, cart: &CartKey) -> Result<Option<CartStamp>, StoreError> {
        let item = self.get(key(cart_pk(cart), "CART")).await?;
        item.map(|item| {
            Ok(CartStamp {
                cart_id: string(&item, "cart_id")?
                    .parse()
                    .map_err(|_| StoreError::Internal("stored cart id".into()))?,
                version: number(&item, "version")? as u64,
                expires_at: from_millis(number(&item, "expires_at")?)?,
            })
        })
        .transpose()
    }

    async fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        let carts = commit
            .writes
            .iter()
            .map(|write| self.cart_write(write))
            .collect::<Result<Vec<_>, _>>()?;
        let idempotency = match &commit.idempotency {
            Some(record) => {
                let mut item = key(format!("IDEM#{}", record.scoped_key), "IDEM");
                item.insert("fp".into(), s(&record.fingerprint));
                item.insert(
                    "resp".into(),
                    s(crate::idempotency_doc::encode(&record.outcome)?),
                );
                item.insert("expires_at".into(), n(millis(record.expires_at)));
                item.insert("ttl".into(), n(millis(record.expires_at) / 1000));
                Some(
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(&self.table)
                                .set_item(Some(item))
                                // An unexpired record wins; an expired one is taken over.
                                .condition_expression(
                                    "attribute_not_exists(pk) OR expires_at <= :at",
                                )
                                .expression_attribute_values(":at", n(millis(commit.at)))
                                .build()
                                .map_err(build_error)?,
                        )
                        .build(),
                )
            }
            None => None,
        };
        let records = commit
            .records
            .iter()
            .map(|write| self.record_write(write))
            .collect::<Result<Vec<_>, _>>()?;
        let payloads = commit
            .events
            .iter()
            .map(|event| serde_json::to_string(event).map_err(json_error))
            .collect::<Result<Vec<_>, _>>()?;
        for attempt in 0..SEQUENCE_RETRIES {
            let mut items = carts.clone();
            let counter_index = items.len();
            if !payloads.is_empty() {
                let last = match self.get(key("OUTBOX", "#SEQ")).await? {
                    Some(item) => number(&item, "n")?,
                    None => 0,
                };
                let next = last + payloads.len() as i64;
                let counter = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key("OUTBOX", "#SEQ")))
                    .update_expression("SET n = :next")
                    .expression_attribute_values(":next", n(next));
                let counter = if last == 0 {
                    counter.condition_expression("attribute_not_exists(pk)")
                } else {
                    counter
                        .condition_expression("n = :last")
                        .expression_attribute_values(":last", n(last))
                };
                items.push(
                    TransactWriteItem::builder()
                        .update(counter.build().map_err(build_error)?)
                        .build(),
                );
                for (i, payload) in payloads.iter().enumerate() {
                    let seq = last + 1 + i as i64;
                    let mut item = key("OUTBOX", outbox::event_sk(seq));
                    item.insert("seq".into(), n(seq));
                    item.insert("at".into(), n(millis(commit.at)));
                    item.insert("event".into(), s(payload));
                    items.push(
                        TransactWriteItem::builder()
                            .put(
                                Put::builder()
                                    .table_name(&self.table)
                                    .set_item(Some(item))
                                    .build()
                                    .map_err(build_error)?,
                            )
                            .build(),
                    );
                }
            }
            let idempotency_index = items.len();
            if let Some(record) = &idempotency {
                items.push(record.clone());
            }
            let records_index = items.len();
            items.extend(records.iter().cloned());
            let outcome = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let error = match outcome {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let Some(cancelled) = error
                .as_service_error()
                .and_then(|e| match e {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => Some(c),
                    _ => None,
                })
            else {
                return Err(sdk_error(error));
            };
            let failed: Vec<usize> = cancelled
                .cancellation_reasons()
                .iter()
                .enumerate()
                .filter(|(_, reason)| reason.code() == Some("ConditionalCheckFailed"))
                .map(|(i, _)| i)
                .collect();
            if let Some(&i) = failed.iter().find(|&&i| i < counter_index) {
                let write = &commit.writes[i];
                return Err(StoreError::VersionMismatch {
                    key: write.key.clone(),
                    current: self.current_version(&write.key).await?,
                });
            }
            if failed.contains(&idempotency_index) && idempotency.is_some() {
                return Err(StoreError::DuplicateIdempotencyKey);
            }
            // Reasons are positional, one per item: the records come last.
            if let Some(write) = failed
                .iter()
                .find_map(|&i| commit.records.get(i.checked_sub(records_index)?))
            {
                return Err(StoreError::RecordConflict {
                    kind: write.kind,
                    key: write.key.clone(),
                });
            }
            // Another commit took these outbox numbers, or DynamoDB saw a conflicting
            // transaction: try again with fresh numbers, after a pause with full jitter that
            // grows with the attempts, so many writers contending at once (checkouts of one
            // product) spread out instead of colliding again in step.
            let ceiling = 2u64 << attempt.min(5);
            tokio::time::sleep(Duration::from_millis(fastrand::u64(1..=ceiling))).await;
        }
        Err(StoreError::Unavailable(
            "the outbox counter stayed contended".into(),
        ))
    }

    async fn idempotency_record(
        &self,
        scoped_key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let Some(item) = self.get(key(format!("IDEM#{scoped_key}"), "IDEM")).await? else {
            return Ok(None);
        };
        let expires_at = from_millis(number(&item, "expires_at")?)?;
        if expires_at <= now {
            return Ok(None);
        }
        let outcome = crate::idempotency_doc::decode(&string(&item, "resp")?)?;
        Ok(Some(IdempotencyRecord {
            scoped_key: scoped_key.to_owned(),
            fingerprint: string(&item, "fp")?,
            outcome,
            expires_at,
        }))
    }

    async fn sweep_expired(
        &self,
        now: OffsetDateTime,
        batch: usize,
    ) -> Result<SweepReport, StoreError> {
        // DynamoDB's TTL deletes expired items on its own (within a day or two of `ttl`); this
        // scan deletes carts as soon as they are past keeping, each conditional on the version
        // read.
        let mut deleted = 0;
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :cart AND expires_at <= :now")
                .expression_attribute_values(":cart", s("CART"))
                .expression_attribute_values(":now", n(millis(now - KEPT_AFTER_EXPIRY)))
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .send()
                .await
                .map_err(sdk_error)?;
            for item in page.items() {
                if deleted >= batch {
                    break;
                }
                let outcome = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key(string(item, "pk")?, "CART")))
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", n(number(item, "version")?))
                    .send()
                    .await;
                match outcome {
                    Ok(_) => deleted += 1,
                    // Written again since the scan read it: not expired any more.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                    Err(e) => return Err(sdk_error(e)),
                }
            }
            match page.last_evaluated_key {
                Some(next) if deleted < batch => start = Some(next),
                _ => break,
            }
        }
        Ok(SweepReport {
            carts: deleted,
            idempotency_records: 0,
        })
    }

    async fn pending_events(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        // Published events are the partition up to the relay's cursor.
        self.events_after_cursor(limit).await
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map(|_| ())
            .map_err(sdk_error)
    }
}

fn product_from_item(item: &Item) -> Result<Product, StoreError> {
    let stock = match item.get("stock") {
        Some(AttributeValue::N(value)) => Some(
            value
                .parse()
                .map_err(|_| StoreError::Internal("stored stock".into()))?,
        ),
        _ => None,
    };
    let active = matches!(item.get("active"), Some(AttributeValue::Bool(true)));
    let tax_class = match item.get("tax_class") {
        Some(AttributeValue::S(class)) => Some(class.as_str()),
        _ => None,
    };
    columns::product(
        string(item, "sk")?,
        string(item, "name")?,
        number(item, "unit_price")?,
        &string(item, "currency")?,
        active,
        stock,
        tax_class,
    )
}

#[async_trait]
impl Records for DynamoStore {
    async fn record(
        &self,
        kind: RecordKind,
        key_of_record: &str,
    ) -> Result<Option<StoredRecord>, StoreError> {
        let item = self.get(key(record_pk(kind), key_of_record)).await?;
        item.as_ref().map(record_from_item).transpose()
    }

    async fn records(
        &self,
        kind: RecordKind,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let Some(range) = KeyRange::of(prefix, after) else {
            return Ok(Vec::new());
        };
        let mut records = Vec::new();
        let mut start = range.start.map(|after| key(record_pk(kind), after));
        while records.len() < limit {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(range.condition)
                .expression_attribute_values(":pk", s(record_pk(kind)))
                .limit(i32::try_from(limit - records.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .consistent_read(true);
            if let Some(bound) = range.bound {
                query = query.expression_attribute_values(":sk", s(bound));
            }
            let page = query.send().await.map_err(sdk_error)?;
            for item in page.items() {
                records.push(record_from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        Ok(records)
    }

    async fn next_number(&self, sequence: &str) -> Result<u64, StoreError> {
        // `ADD` is applied atomically by DynamoDB (and creates the item at 0 first): every
        // caller, in any process, gets the value its own update wrote.
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("SEQ#{sequence}"), "SEQ")))
            .update_expression("ADD #n :one")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(sdk_error)?;
        let attributes = updated.attributes.unwrap_or_default();
        Ok(number(&attributes, "n")? as u64)
    }
}

/// How a `Query` of a record partition picks the keys starting with a prefix and sorting after
/// a key: a key condition on the sort key, and where to start.
struct KeyRange<'a> {
    /// The key condition (`:pk` the partition, `:sk` the bound, if any).
    condition: &'static str,
    /// The value of `:sk`.
    bound: Option<&'a str>,
    /// The sort key to start after (`ExclusiveStartKey`), inside the condition's range as
    /// DynamoDB requires.
    start: Option<&'a str>,
}

impl<'a> KeyRange<'a> {
    /// The range of keys starting with `prefix` after `after`; `None` when no key can be in it
    /// (`after` sorts past every key with the prefix).
    fn of(prefix: &'a str, after: Option<&'a str>) -> Option<Self> {
        let whole = "pk = :pk";
        let prefixed = "pk = :pk AND begins_with(sk, :sk)";
        // DynamoDB refuses an empty string in a key condition: with no prefix, only `after`
        // bounds the sort key.
        Some(match after {
            Some(after) if prefix.is_empty() => Self {
                condition: "pk = :pk AND sk > :sk",
                bound: Some(after),
                start: None,
            },
            None if prefix.is_empty() => Self {
                condition: whole,
                bound: None,
                start: None,
            },
            Some(after) if after.starts_with(prefix) => Self {
                condition: prefixed,
                bound: Some(prefix),
                start: Some(after),
            },
            // Past every key with the prefix.
            Some(after) if after > prefix => return None,
            // No `after`, or one before every key with the prefix.
            _ => Self {
                condition: prefixed,
                bound: Some(prefix),
                start: None,
            },
        })
    }
}

/// The partition holding every pricing setting of `kind`.
fn pricing_partition(kind: PricingKind) -> String {
    format!("PRICING#{}", kind.as_str())
}

#[async_trait]
impl PricingSettings for DynamoStore {
    async fn put_setting(
        &self,
        kind: PricingKind,
        key_of_setting: &str,
        document: &str,
    ) -> Result<bool, StoreError> {
        let mut item = key(pricing_partition(kind), key_of_setting);
        item.insert("doc".into(), s(document));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(put.attributes().is_none_or(HashMap::is_empty))
    }

    async fn setting(
        &self,
        kind: PricingKind,
        key_of_setting: &str,
    ) -> Result<Option<String>, StoreError> {
        let item = self
            .get(key(pricing_partition(kind), key_of_setting))
            .await?;
        item.as_ref().map(|item| string(item, "doc")).transpose()
    }

    async fn settings(&self, kind: PricingKind) -> Result<Vec<(String, String)>, StoreError> {
        let mut settings = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pricing_partition(kind)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for item in page.items() {
                settings.push((string(item, "sk")?, string(item, "doc")?));
            }
            match page.last_evaluated_key {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        Ok(settings)
    }

    async fn delete_setting(
        &self,
        kind: PricingKind,
        key_of_setting: &str,
    ) -> Result<bool, StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pricing_partition(kind), key_of_setting)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(deleted.attributes().is_some_and(|old| !old.is_empty()))
    }
}

#[async_trait]
impl Catalog for DynamoStore {
    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let item = self.get(key("PRODUCT", id.as_str())).await?;
        item.as_ref().map(product_from_item).transpose()
    }

    async fn products(
        &self,
        after: Option<&ProductId>,
        limit: usize,
    ) -> Result<Vec<Product>, StoreError> {
        let mut products = Vec::new();
        let mut start: Option<Item> = after.map(|id| key("PRODUCT", id.as_str()));
        while products.len() < limit {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s("PRODUCT"))
                .limit(i32::try_from(limit - products.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for item in page.items() {
                products.push(product_from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        Ok(products)
    }

    async fn upsert_products(&self, products: Vec<Product>) -> Result<Vec<bool>, StoreError> {
        let mut created = Vec::with_capacity(products.len());
        for p in &products {
            created.push(self.get(key("PRODUCT", p.id.as_str())).await?.is_none());
        }
        // One transaction may not name an item twice: the last row of an id wins, as elsewhere.
        let mut last: HashMap<&str, &Product> = HashMap::new();
        for p in &products {
            last.insert(p.id.as_str(), p);
        }
        let unique: Vec<&Product> = products
            .iter()
            .filter(|p| std::ptr::eq(*p, last[p.id.as_str()]))
            .collect();
        // A transaction holds at most 100 items: larger imports are atomic per 100 products
        // (every row is validated before any is written).
        for chunk in unique.chunks(100) {
            let items = chunk
                .iter()
                .map(|p| {
                    let mut item = key("PRODUCT", p.id.as_str());
                    item.insert("name".into(), s(&*p.name));
                    item.insert("unit_price".into(), n(p.price.amount()));
                    item.insert("currency".into(), s(p.price.currency().as_str()));
                    item.insert("active".into(), AttributeValue::Bool(p.active));
                    if let Some(stock) = p.stock {
                        item.insert("stock".into(), n(stock));
                    }
                    item.insert("tax_class".into(), s(p.tax_class.as_str()));
                    Ok(TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(&self.table)
                                .set_item(Some(item))
                                .build()
                                .map_err(build_error)?,
                        )
                        .build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            self.client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
                .map_err(sdk_error)?;
        }
        Ok(created)
    }

    async fn product_count(&self) -> Result<u64, StoreError> {
        let mut count = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s("PRODUCT"))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            count += page.count() as u64;
            match page.last_evaluated_key {
                Some(next) => start = Some(next),
                None => return Ok(count),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KeyRange;

    /// The query for each shape of prefix and `after`: `ExclusiveStartKey` only inside the
    /// `begins_with` range (DynamoDB refuses one outside it), no empty string in a condition.
    #[test]
    fn key_ranges_stay_inside_the_prefix() {
        let of =
            |prefix, after| KeyRange::of(prefix, after).map(|r| (r.condition, r.bound, r.start));
        let prefixed = "pk = :pk AND begins_with(sk, :sk)";
        assert_eq!(of("u/", None), Some((prefixed, Some("u/"), None)));
        assert_eq!(
            of("u/", Some("u/a")),
            Some((prefixed, Some("u/"), Some("u/a")))
        );
        assert_eq!(
            of("u/", Some("u/")),
            Some((prefixed, Some("u/"), Some("u/")))
        );
        assert_eq!(of("u/", Some("a")), Some((prefixed, Some("u/"), None)));
        assert_eq!(of("u/", Some("v")), None);
        assert_eq!(of("", None), Some(("pk = :pk", None, None)));
        assert_eq!(
            of("", Some("u/b")),
            Some(("pk = :pk AND sk > :sk", Some("u/b"), None))
        );
    }
}
