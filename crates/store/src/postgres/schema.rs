//! The PostgreSQL schema, as numbered migrations recorded in `cartd_schema`, applied in one
//! transaction under an advisory lock so replicas starting together migrate once.
//!
//! Hand-written like the SQLite one rather than `sqlx::migrate!`: a list of statements and a
//! version row is all it takes, and it keeps both backends' migrations readable side by side.

use sqlx::PgPool;

/// The advisory lock key migrations hold (any constant shared by all replicas).
const MIGRATION_LOCK: i64 = 0x6361_7274_6400; // "cartd\0"

/// Migrations in order; `cartd_schema.version` counts how many have been applied.
const MIGRATIONS: &[&str] = &[
    // 1: carts as JSONB documents keyed by cart key, the outbox, idempotency records, products.
    r#"
    CREATE TABLE carts (
        cart_key   TEXT PRIMARY KEY,
        cart_id    UUID NOT NULL,        -- changes when an expired cart is replaced
        version    BIGINT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        doc        JSONB NOT NULL        -- the cart
    );
    CREATE INDEX carts_by_expiry ON carts (expires_at);

    CREATE TABLE outbox (
        seq          BIGSERIAL PRIMARY KEY,
        event_id     UUID NOT NULL,
        cart_key     TEXT NOT NULL,
        version      BIGINT NOT NULL,
        event_type   TEXT NOT NULL,
        payload      JSONB NOT NULL,      -- the event
        created_at   TIMESTAMPTZ NOT NULL,
        published_at TIMESTAMPTZ
    );
    CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;

    CREATE TABLE idempotency (
        scoped_key  TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        response    JSONB NOT NULL,       -- the stored response
        expires_at  TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);

    CREATE TABLE products (
        id         TEXT COLLATE "C" PRIMARY KEY, -- byte order, as product pages are cursored
        name       TEXT NOT NULL,
        unit_price BIGINT NOT NULL,
        currency   TEXT NOT NULL,
        active     BOOLEAN NOT NULL,
        stock      BIGINT
    );
    "#,
    // 2: the outbox relay. One named lease row says which relay may publish until when; the
    // pruner finds published rows by `published_at` (a partial index, as `outbox_pending` is for
    // the unpublished ones).
    r#"
    CREATE TABLE relay_lease (
        name       TEXT PRIMARY KEY,     -- always 'relay': one lease per store
        holder     TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
    "#,
    // 3: a product's tax class; rows from before it are `standard`.
    r#"
    ALTER TABLE products ADD COLUMN tax_class TEXT NOT NULL DEFAULT 'standard';
    "#,
    // 4: pricing settings (tax tables, shipping rates, promotions) as JSON documents by key.
    r#"
    CREATE TABLE pricing (
        kind TEXT NOT NULL,  -- tax_rates, shipping_rate or promotion
        key  TEXT COLLATE "C" NOT NULL, -- a region or a discount code, listed in byte order
        doc  TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    "#,
    // 5: checkout's records (orders, their index, stock levels, promotion uses, payment events)
    // as versioned documents by key, and the sequences that number orders. Keys are compared
    // in byte order ("C"), as every backend lists them, whatever the database's locale.
    r#"
    CREATE TABLE records (
        kind    TEXT NOT NULL,             -- RecordKind::as_str
        key     TEXT COLLATE "C" NOT NULL, -- printable ASCII, listed by prefix in byte order
        version BIGINT NOT NULL,           -- 1 when created, one more with every write
        body    TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    CREATE TABLE sequences (
        name  TEXT PRIMARY KEY,
        value BIGINT NOT NULL              -- the last number given
    );
    "#,
];

/// Applies pending migrations; returns how many ran. A database migrated by a newer cartd is
/// refused.
pub(super) async fn migrate(pool: &PgPool, schema: Option<&str>) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    if let Some(schema) = schema {
        // The name was checked to be [A-Za-z0-9_]{1,63} when the URL was parsed.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
        )))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("CREATE TABLE IF NOT EXISTS cartd_schema (version INTEGER NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let applied: Option<i32> = sqlx::query_scalar("SELECT max(version) FROM cartd_schema")
        .fetch_one(&mut *tx)
        .await?;
    let applied = usize::try_from(applied.unwrap_or(0)).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(sqlx::Error::Protocol(format!(
            "the database schema is at version {applied}, newer than this cartd knows ({}); \
             upgrade cartd",
            MIGRATIONS.len()
        )));
    }
    let pending = &MIGRATIONS[applied..];
    for sql in pending {
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM cartd_schema")
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO cartd_schema (version) VALUES ($1)")
        .bind(i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(pending.len())
}
