//! The keys under which orders are found ([`crate::ports::RecordKind::OrderIndex`]): stores list
//! records by key prefix in byte order, so each way of finding orders is a prefix, and the rest
//! of the key orders its entries. Each entry's key ends with the order id, which is all an entry
//! holds; the order itself is read from its own record.
//!
//! - `owner/<cart key>/<newest first>/<id>`: a buyer's orders, newest first.
//! - `all/<newest first>/<id>`: every order, newest first (the admin's list).
//!
//! (`<newest first>` is the creation time and the id, each counted down from its maximum.)
//! - `due/<pay by>/<id>`: orders waiting for payment, soonest deadline first (the sweeper).
//! - `fulfil/<not before>/<id>`: paid orders waiting for fulfilment, earliest first (the
//!   in-process worker's queue).
//! - `dead/<id>`: orders whose fulfilment failed every attempt (the dead letters).
//!
//! Cart keys never hold `/`, so one buyer's prefix never reaches into another's.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::ids::CartKey;

/// Milliseconds since the epoch, zero-padded so keys sort in time order (0 before 1970).
fn millis(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// A time and an order id that sort the other way round: later times first, and of orders
/// placed in the same millisecond the later id (ids are UUIDv7, which rise with time) first.
fn newest_first(at: OffsetDateTime, id: Uuid) -> String {
    format!(
        "{:020}/{:032x}",
        u64::MAX - millis(at),
        u128::MAX - id.as_u128()
    )
}

/// A time that sorts in order.
fn oldest_first(at: OffsetDateTime) -> String {
    format!("{:020}", millis(at))
}

/// The prefix of a buyer's entries.
pub fn owner_prefix(cart_key: &CartKey) -> String {
    format!("owner/{}/", cart_key.as_str())
}

/// A buyer's entry for an order created at `created_at`.
pub fn owner_entry(cart_key: &CartKey, created_at: OffsetDateTime, id: Uuid) -> String {
    format!(
        "{}{}/{id}",
        owner_prefix(cart_key),
        newest_first(created_at, id)
    )
}

/// The prefix of every order's entry.
pub const ALL: &str = "all/";

/// The admin list's entry for an order created at `created_at`.
pub fn all_entry(created_at: OffsetDateTime, id: Uuid) -> String {
    format!("{ALL}{}/{id}", newest_first(created_at, id))
}

/// The prefix of orders waiting for payment.
pub const DUE: &str = "due/";

/// The sweeper's entry for an order to be paid by `pay_by`.
pub fn due_entry(pay_by: OffsetDateTime, id: Uuid) -> String {
    format!("{DUE}{}/{id}", oldest_first(pay_by))
}

/// The prefix of the fulfilment queue.
pub const FULFIL: &str = "fulfil/";

/// The worker's entry for an order to be fulfilled not before `not_before`.
pub fn fulfil_entry(not_before: OffsetDateTime, id: Uuid) -> String {
    format!("{FULFIL}{}/{id}", oldest_first(not_before))
}

/// Entries of the queue due at `now` sort at or before this key.
pub fn fulfil_due_until(now: OffsetDateTime) -> String {
    // `~` sorts after every digit, `/` and hex character of an id at this time.
    format!("{FULFIL}{}~", oldest_first(now))
}

/// The prefix of the dead letters.
pub const DEAD: &str = "dead/";

/// The dead letter of an order.
pub fn dead_entry(id: Uuid) -> String {
    format!("{DEAD}{id}")
}

/// The dead letter of the order `id` given as text (a page's cursor).
pub fn dead_entry_of(id: &str) -> String {
    format!("{DEAD}{id}")
}

/// The order id an entry ends with.
pub fn order_id_of(entry: &str) -> Option<Uuid> {
    entry
        .rsplit('/')
        .next()
        .and_then(|id| Uuid::parse_str(id).ok())
}

/// The time an oldest-first entry (`due/`, `fulfil/`) is keyed by.
pub fn time_of(entry: &str) -> Option<OffsetDateTime> {
    let millis: i128 = entry.split('/').nth(1)?.parse().ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn newer_orders_sort_first_and_deadlines_sort_soonest_first() {
        let id = Uuid::now_v7();
        let key = CartKey::parse("alice").expect("key");
        let early = datetime!(2026-12-01 10:00 UTC);
        let late = datetime!(2026-12-02 10:00 UTC);
        assert!(owner_entry(&key, late, id) < owner_entry(&key, early, id));
        assert!(all_entry(late, id) < all_entry(early, id));
        assert!(due_entry(early, id) < due_entry(late, id));
        assert!(fulfil_entry(early, id) < fulfil_due_until(early));
        assert!(fulfil_entry(late, id) > fulfil_due_until(early));
        assert!(owner_entry(&key, early, id).starts_with(&owner_prefix(&key)));
        assert_eq!(order_id_of(&owner_entry(&key, early, id)), Some(id));
        assert_eq!(time_of(&due_entry(early, id)), Some(early));
    }

    #[test]
    fn of_orders_placed_in_one_millisecond_the_later_lists_first() {
        let at = datetime!(2026-12-01 10:00 UTC);
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(first < second);
        assert!(all_entry(at, second,) < all_entry(at, first));
    }

    #[test]
    fn one_buyers_prefix_does_not_reach_another_buyers_entries() {
        let id = Uuid::now_v7();
        let at = datetime!(2026-12-01 10:00 UTC);
        let bob = CartKey::parse("bob").expect("key");
        let bobby = CartKey::parse("bobby").expect("key");
        assert!(!owner_entry(&bobby, at, id).starts_with(&owner_prefix(&bob)));
    }
}
