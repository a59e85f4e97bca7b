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
    // 2: carts become a rowid table (a cart document of a few KB fits in a rowid table's leaf
    // page; in a WITHOUT ROWID table anything over ~1 KB spilled into overflow pages, so every
    // update wrote two or three pages), and the sweeper indexes `sweep_after`, the expiry rounded
    // up to the hour, which changes (and costs an index update) at most once an hour per cart
    // instead of on every write.
    r"
    CREATE TABLE carts_v2 (
        cart_key    TEXT PRIMARY KEY,
        cart_id     TEXT NOT NULL,
        version     INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL, -- unix milliseconds, exact
        sweep_after INTEGER NOT NULL, -- expires_at rounded up to the hour; never before it
        doc         TEXT NOT NULL
    );
    INSERT INTO carts_v2 (cart_key, cart_id, version, expires_at, sweep_after, doc)
        SELECT cart_key, cart_id, version, expires_at,
               ((expires_at + 3599999) / 3600000) * 3600000, doc
        FROM carts;
    DROP TABLE carts;
    ALTER TABLE carts_v2 RENAME TO carts;
    CREATE INDEX carts_by_sweep ON carts (sweep_after);
    ",
    // 3: the outbox relay. One named lease row says which relay may publish until when; the
    // pruner finds published rows by `published_at` (a partial index: pending rows stay out of
    // it, as published ones stay out of `outbox_pending`).
    r"
    CREATE TABLE relay_lease (
        name       TEXT PRIMARY KEY, -- always 'relay': one lease per store
        holder     TEXT NOT NULL,
        expires_at INTEGER NOT NULL  -- unix milliseconds
    ) WITHOUT ROWID;
    CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
    ",
    // 4: the relay's progress becomes one cursor (every event up to `seq` is published) instead
    // of a mark on every row: a mark rewrote each row and moved it between two partial indexes,
    // so every event was written three times. SQLite has one writer, so `seq` order is commit
    // order and a cursor loses nothing. The cursor starts just before the oldest unmarked event.
    // `published_at` stays, unused, so older rows keep their history.
    r"
    CREATE TABLE outbox_cursor (
        name TEXT PRIMARY KEY,  -- always 'relay'
        seq  INTEGER NOT NULL   -- every event with seq <= this one is published
    ) WITHOUT ROWID;
    INSERT INTO outbox_cursor (name, seq) VALUES ('relay', COALESCE(
        (SELECT MIN(seq) - 1 FROM outbox WHERE published_at IS NULL),
        (SELECT MAX(seq) FROM outbox),
        0));
    DROP INDEX outbox_pending;
    DROP INDEX outbox_published;
    ",
    // 5: the outbox without `AUTOINCREMENT`, and without the columns nothing reads. The
    // sequence updated a row of `sqlite_sequence` on every insert, one more page in every
    // commit. A plain rowid is the largest `seq` plus one, and the relay needs only that every
    // new event comes after the cursor: the pruner deletes events at or before the cursor only,
    // so the newest event stays until it is published, and a pruner that empties the outbox sets
    // the cursor back to 0 in the same transaction (`outbox::prune_published`). Here the cursor
    // is brought down to the largest `seq` left (0 if none), which changes nothing pending: no
    // event lies between. `event_id`, `cart_key`, `version` and `event_type` repeated what the
    // payload holds, and `published_at` has been unused since migration 4: dropping them makes an
    // event's row ~90 bytes (a sixth) smaller, and the outbox's pages are a large part of what
    // each commit writes. (Payloads written since are binary BLOBs, `event_doc.rs`: a TEXT column
    // keeps a BLOB as it is, so no migration was needed, and `json_extract` reads only the
    // older, JSON rows; `cartd outbox list` prints any of them as JSON.)
    r"
    CREATE TABLE outbox_v5 (
        seq        INTEGER PRIMARY KEY, -- commit order; always after the relay cursor when new
        payload    TEXT NOT NULL,       -- the event as JSON
        created_at INTEGER NOT NULL     -- unix milliseconds
    );
    INSERT INTO outbox_v5 (seq, payload, created_at)
        SELECT seq, payload, created_at FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_v5 RENAME TO outbox;
    UPDATE outbox_cursor SET seq = MIN(seq, COALESCE((SELECT MAX(seq) FROM outbox), 0))
        WHERE name = 'relay';
    ",
    // 6: a product's tax class; rows from before it are `standard`.
    r"
    ALTER TABLE products ADD COLUMN tax_class TEXT NOT NULL DEFAULT 'standard';
    ",
    // 7: pricing settings (tax tables, shipping rates, promotions) as JSON documents by key.
    r"
    CREATE TABLE pricing (
        kind TEXT NOT NULL, -- tax_rates, shipping_rate or promotion
        key  TEXT NOT NULL, -- a region or a discount code
        doc  TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;
    ",
    // 8: checkout's records (orders, their index, stock levels, promotion uses, payment events)
    // as versioned JSON documents by key, and the sequences that number orders.
    r"
    CREATE TABLE records (
        kind    TEXT NOT NULL,    -- RecordKind::as_str
        key     TEXT NOT NULL,    -- printable ASCII, ordered bytewise
        version INTEGER NOT NULL, -- 1 when created, one more with every write
        body    TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;
    CREATE TABLE sequences (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL    -- the last number given
    ) WITHOUT ROWID;
    ",
    // 9: idempotency records and checkout's records become rowid tables, as carts did in
    // migration 2. A WITHOUT ROWID table keeps whole rows in its key's B-tree, which suits rows
    // under ~200 bytes (a twentieth of a page); a stored checkout answer and an order are a few
    // KB, so each leaf held one or two of them and a key lookup, even for a key that is not
    // there, walked a tree as deep as the rows were large. As rowid tables their keys live in a
    // dense index of their own, and new rows are appended instead of splitting leaves at random
    // keys.
    r"
    CREATE TABLE idempotency_v9 (
        scoped_key  TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        response    TEXT NOT NULL, -- the stored response as JSON
        expires_at  INTEGER NOT NULL
    );
    INSERT INTO idempotency_v9 (scoped_key, fingerprint, response, expires_at)
        SELECT scoped_key, fingerprint, response, expires_at FROM idempotency;
    DROP TABLE idempotency;
    ALTER TABLE idempotency_v9 RENAME TO idempotency;
    CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);

    CREATE TABLE records_v9 (
        kind    TEXT NOT NULL,    -- RecordKind::as_str
        key     TEXT NOT NULL,    -- printable ASCII, ordered bytewise
        version INTEGER NOT NULL, -- 1 when created, one more with every write
        body    TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    INSERT INTO records_v9 (kind, key, version, body)
        SELECT kind, key, version, body FROM records;
    DROP TABLE records;
    ALTER TABLE records_v9 RENAME TO records;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A database at `version`, as the cartd of that version left it.
    fn database_at(version: usize) -> Connection {
        let mut conn = Connection::open_in_memory().expect("db");
        let tx = conn.transaction().expect("tx");
        for sql in &MIGRATIONS[..version] {
            tx.execute_batch(sql).expect("migration");
        }
        tx.pragma_update(None, "user_version", version as i64)
            .expect("version");
        tx.commit().expect("commit");
        conn
    }

    #[test]
    fn migration_3_adds_the_relay_lease_and_keeps_the_outbox() {
        let mut conn = database_at(2);
        conn.execute(
            "INSERT INTO outbox (event_id, cart_key, version, event_type, payload, created_at)
             VALUES ('e1', 'alice', 1, 'cart.item_added', '{}', 5)",
            [],
        )
        .expect("event");

        assert_eq!(migrate(&mut conn).expect("migrate"), MIGRATIONS.len() - 2);
        conn.execute(
            "INSERT INTO relay_lease (name, holder, expires_at) VALUES ('relay', 'r1', 10)",
            [],
        )
        .expect("lease row");
        let pending: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM outbox
                 WHERE seq > (SELECT seq FROM outbox_cursor WHERE name = 'relay')",
                [],
                |row| row.get(0),
            )
            .expect("outbox");
        assert_eq!(pending, 1, "the pending event survives, still pending");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
        assert_eq!(migrate(&mut conn).expect("again"), 0);
    }

    /// The relay cursor migration 4 sets on an outbox whose rows were marked (`Some`) or not.
    fn cursor_after_migration_4(rows: &[Option<i64>]) -> i64 {
        let mut conn = database_at(3);
        for published in rows {
            conn.execute(
                "INSERT INTO outbox
                     (event_id, cart_key, version, event_type, payload, created_at, published_at)
                 VALUES ('e', 'alice', 1, 'cart.item_added', '{}', 5, ?1)",
                [published],
            )
            .expect("event");
        }
        assert_eq!(migrate(&mut conn).expect("migrate"), MIGRATIONS.len() - 3);
        conn.query_row(
            "SELECT seq FROM outbox_cursor WHERE name = 'relay'",
            [],
            |r| r.get(0),
        )
        .expect("cursor")
    }

    #[test]
    fn migration_4_starts_the_cursor_before_the_oldest_unmarked_event() {
        assert_eq!(
            cursor_after_migration_4(&[Some(7), Some(8), None, None]),
            2,
            "events 1 and 2 were published, 3 and 4 were not"
        );
        assert_eq!(
            cursor_after_migration_4(&[Some(1), Some(2)]),
            2,
            "all published"
        );
        assert_eq!(cursor_after_migration_4(&[]), 0, "an empty outbox");
    }

    /// Migration 5 on an outbox of events `1..=events` with the cursor at `cursor`: the cursor
    /// after it, and the `seq` the next event gets.
    fn migration_5(events: i64, cursor: i64) -> (i64, i64) {
        let mut conn = database_at(4);
        for _ in 0..events {
            conn.execute(
                "INSERT INTO outbox (event_id, cart_key, version, event_type, payload, created_at)
                 VALUES ('e', 'alice', 1, 'cart.item_added', '{}', 5)",
                [],
            )
            .expect("event");
        }
        // Events pruned before the migration: the oldest ones, up to the cursor.
        conn.execute("DELETE FROM outbox WHERE seq <= ?1 - 1", [cursor])
            .expect("prune");
        conn.execute("UPDATE outbox_cursor SET seq = ?1", [cursor])
            .expect("cursor");
        assert_eq!(migrate(&mut conn).expect("migrate"), MIGRATIONS.len() - 4);
        let cursor = conn
            .query_row("SELECT seq FROM outbox_cursor", [], |r| r.get(0))
            .expect("cursor");
        conn.execute(
            "INSERT INTO outbox (payload, created_at) VALUES ('{\"new\":true}', 6)",
            [],
        )
        .expect("a new event");
        let next = conn
            .query_row(
                "SELECT seq FROM outbox WHERE payload = '{\"new\":true}'",
                [],
                |r| r.get(0),
            )
            .expect("seq");
        (cursor, next)
    }

    #[test]
    fn migration_5_keeps_every_new_event_after_the_cursor() {
        assert_eq!(
            migration_5(6, 3),
            (3, 7),
            "pending events keep cursor and order"
        );
        assert_eq!(migration_5(6, 6), (6, 7), "all published, the newest kept");
        assert_eq!(migration_5(0, 0), (0, 1), "an empty outbox");
        // Every event was published and pruned, so AUTOINCREMENT alone remembered 9: the
        // cursor comes down, or the next event (seq 1) would count as published.
        let mut conn = database_at(4);
        conn.execute("UPDATE outbox_cursor SET seq = 9", [])
            .expect("cursor");
        migrate(&mut conn).expect("migrate");
        let cursor: i64 = conn
            .query_row("SELECT seq FROM outbox_cursor", [], |r| r.get(0))
            .expect("cursor");
        assert_eq!(cursor, 0);
        let sequences: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE sql LIKE '%AUTOINCREMENT%'",
                [],
                |r| r.get(0),
            )
            .expect("schema");
        assert_eq!(sequences, 0, "no table keeps a sequence any more");
    }

    #[test]
    fn a_version_1_database_keeps_its_carts_through_migration_2() {
        let mut conn = Connection::open_in_memory().expect("db");
        let tx = conn.transaction().expect("tx");
        tx.execute_batch(MIGRATIONS[0]).expect("migration 1");
        tx.pragma_update(None, "user_version", 1).expect("version");
        tx.execute(
            "INSERT INTO carts (cart_key, cart_id, version, expires_at, doc)
             VALUES ('alice', 'c1', 3, 7200001, '{}')",
            [],
        )
        .expect("cart");
        tx.commit().expect("commit");

        assert_eq!(migrate(&mut conn).expect("migrate"), MIGRATIONS.len() - 1);
        let (version, expires_at, sweep_after): (i64, i64, i64) = conn
            .query_row(
                "SELECT version, expires_at, sweep_after FROM carts WHERE cart_key = 'alice'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .expect("migrated cart");
        assert_eq!(
            (version, expires_at, sweep_after),
            (3, 7_200_001, 10_800_000)
        );
        assert_eq!(
            migrate(&mut conn).expect("again"),
            0,
            "nothing left to apply"
        );
    }

    #[test]
    fn migration_9_keeps_idempotency_records_and_checkout_records_and_their_keys() {
        let mut conn = database_at(8);
        conn.execute_batch(
            "INSERT INTO idempotency (scoped_key, fingerprint, response, expires_at)
                 VALUES ('guest_1:k1', 'f1', '{\"status\":201}', 9);
             INSERT INTO records (kind, key, version, body)
                 VALUES ('order', 'o1', 2, '{\"id\":\"o1\"}'),
                        ('order_index', 'all/1', 1, '{}');",
        )
        .expect("rows");
        assert_eq!(migrate(&mut conn).expect("migrate"), MIGRATIONS.len() - 8);
        let kept: (String, String, i64) = conn
            .query_row(
                "SELECT fingerprint, response, expires_at FROM idempotency
                 WHERE scoped_key = 'guest_1:k1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("idempotency row");
        assert_eq!(kept, ("f1".into(), "{\"status\":201}".into(), 9));
        let orders: (i64, String) = conn
            .query_row(
                "SELECT version, body FROM records WHERE kind = 'order' AND key = 'o1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("order row");
        assert_eq!(orders, (2, "{\"id\":\"o1\"}".into()));
        // The keys stay unique: a second row under one key is refused.
        for duplicate in [
            "INSERT INTO idempotency (scoped_key, fingerprint, response, expires_at)
                 VALUES ('guest_1:k1', 'f2', '{}', 1)",
            "INSERT INTO records (kind, key, version, body) VALUES ('order', 'o1', 1, '{}')",
        ] {
            assert!(conn.execute(duplicate, []).is_err(), "{duplicate}");
        }
        let without_rowid: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master
                 WHERE name IN ('idempotency', 'records') AND sql LIKE '%WITHOUT ROWID%'",
                [],
                |r| r.get(0),
            )
            .expect("schema");
        assert_eq!(without_rowid, 0);
    }

    #[test]
    fn migration_6_makes_every_earlier_product_standard() {
        let mut conn = database_at(5);
        conn.execute(
            "INSERT INTO products (id, name, unit_price, currency, active, stock)
             VALUES ('book', 'Book', 100, 'USD', 1, NULL)",
            [],
        )
        .expect("product");
        assert_eq!(migrate(&mut conn).expect("migrate"), MIGRATIONS.len() - 5);
        let class: String = conn
            .query_row(
                "SELECT tax_class FROM products WHERE id = 'book'",
                [],
                |r| r.get(0),
            )
            .expect("tax class");
        assert_eq!(class, "standard");
    }
}
