//! The embedded store's schema, as numbered migrations tracked in `PRAGMA user_version`.
//!
//! Written by hand rather than with a migration crate: SQLite keeps a schema version in its
//! header for exactly this, and a list of statements applied in one transaction is all it takes.

use rusqlite::Connection;

/// Migrations in order; the database's `user_version` counts how many have been applied.
const MIGRATIONS: &[&str] = &[
    // 1: carts as JSON documents keyed by cart key, the outbox, idempotency records, products.
    r"
    CREATE TABLE carts (
        cart_key   TEXT PRIMARY KEY,
        cart_id    TEXT NOT NULL,    -- changes when an expired cart is replaced
        version    INTEGER NOT NULL,
        expires_at INTEGER NOT NULL, -- unix milliseconds
        doc        TEXT NOT NULL     -- the cart as JSON
    ) WITHOUT ROWID;
    CREATE INDEX carts_by_expiry ON carts (expires_at);

    CREATE TABLE outbox (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, even after pruning
        event_id     TEXT NOT NULL, -- unique by construction (UUIDv7): an index would only cost
        cart_key     TEXT NOT NULL,
        version      INTEGER NOT NULL,
        event_type   TEXT NOT NULL,
        payload      TEXT NOT NULL, -- the event as JSON
        created_at   INTEGER NOT NULL,
        published_at INTEGER
    );
    CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;

    CREATE TABLE idempotency (
        scoped_key  TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        response    TEXT NOT NULL, -- the stored response as JSON
        expires_at  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);

    CREATE TABLE products (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        unit_price INTEGER NOT NULL,
        currency   TEXT NOT NULL,
        active     INTEGER NOT NULL,
        stock      INTEGER
    ) WITHOUT ROWID;
    ",
];

/// Applies the migrations the database has not seen yet, in one transaction. Returns how many
/// were applied.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let applied: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the database schema is at version {applied}, newer than this cartd knows ({}); \
             upgrade cartd",
            MIGRATIONS.len()
        )));
    }
    let pending = &MIGRATIONS[applied..];
    for sql in pending {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    tx.commit()?;
    Ok(pending.len())
}
