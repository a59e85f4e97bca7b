//! The data subcommands: `migrate`, `catalog import`, `pricing import`, `outbox list`,
//! `token`, and `health` (a container's health check).

use std::path::Path;

use anyhow::Context;
use cart_api::identity::{Audience, Claims};
use cart_core::{ProductInput, UserId};
use cart_devidp::{KeyKind, mint_hs256};
use cart_store::Backend;

use crate::Failure;
use crate::config::{HealthArgs, StoreArgs, TokenArgs, redacted_url};

async fn open(store: &StoreArgs) -> Result<Backend, Failure> {
    cart_store::open(&store.url)
        .await
        .with_context(|| format!("cannot open the store {}", redacted_url(&store.url)))
        .map_err(Failure::Runtime)
}

/// `cartd migrate`: opening the store applies pending migrations.
pub async fn migrate(store: &StoreArgs) -> Result<(), Failure> {
    let backend = open(store).await?;
    println!(
        "{} store {} is at the current schema",
        backend.kind(),
        redacted_url(&store.url)
    );
    Ok(())
}

/// `cartd catalog import FILE`: every row valid, or nothing imported.
pub async fn import_catalog(file: &Path, store: &StoreArgs) -> Result<(), Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| Failure::Usage(format!("{} is not a JSON array: {e}", file.display())))?;
    let products = rows
        .into_iter()
        .enumerate()
        .map(|(index, row)| {
            serde_json::from_value::<ProductInput>(row)
                .map_err(|e| e.to_string())
                .and_then(|input| input.parse().map_err(|e| e.to_string()))
                .map_err(|reason| {
                    Failure::Usage(format!("row {index}: {reason}; nothing imported"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let backend = open(store).await?;
    let created = backend
        .catalog()
        .upsert_products(products)
        .await
        .context("import failed; nothing imported")?;
    let new = created.iter().filter(|c| **c).count();
    println!(
        "imported {} products ({new} new, {} updated)",
        created.len(),
        created.len() - new
    );
    Ok(())
}

/// `cartd pricing import FILE`: every row valid, or nothing imported. The settings are then
/// written one by one (the stores keep each setting on its own); a store failure midway leaves
/// the earlier rows written, and running the import again finishes it.
pub async fn import_pricing(file: &Path, store: &StoreArgs) -> Result<(), Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
    let settings = crate::pricing_file::parse(&text)
        .map_err(|reason| Failure::Usage(format!("{reason}; nothing imported")))?;
    let backend = open(store).await?;
    let counts = crate::pricing_file::store(backend.pricing().as_ref(), &settings)
        .await
        .map_err(Failure::Runtime)?;
    println!(
        "imported {} tax tables, {} shipping rates and {} promotions",
        counts.tax_rates, counts.shipping_rates, counts.promotions
    );
    Ok(())
}

/// `cartd outbox list`: pending events as JSON lines.
pub async fn list_outbox(limit: usize, store: &StoreArgs) -> Result<(), Failure> {
    let backend = open(store).await?;
    let entries = backend
        .store()
        .pending_events(limit)
        .await
        .context("cannot read the outbox")?;
    for entry in entries {
        let mut line = serde_json::to_value(&entry.event).context("event to JSON")?;
        if let Some(object) = line.as_object_mut() {
            object.insert("seq".into(), entry.seq.into());
        }
        println!("{line}");
    }
    Ok(())
}

/// `cartd token`: a development token, signed with the configured HS256 secret or (with
/// `--alg rs256|es256|es384|eddsa --key FILE`) with a private key whose JWKS `cartd jwks serve`
/// publishes.
pub fn token(args: &TokenArgs) -> Result<(), Failure> {
    UserId::parse(&args.sub).map_err(|e| Failure::Usage(format!("--sub: {e}")))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let claims = Claims {
        sub: args.sub.clone(),
        exp: now + args.ttl.as_secs(),
        iat: Some(now),
        scope: args.scope.clone(),
        iss: args.jwt.jwt_issuer.clone(),
        aud: args.jwt.jwt_audience.clone().map(Audience::One),
        client_id: args.jwt.jwt_client_id.clone(),
        ..Claims::default()
    };
    let token = if args.alg.eq_ignore_ascii_case("hs256") {
        let secret = args.jwt.jwt_secret.as_ref().ok_or_else(|| {
            Failure::Usage("CARTD_JWT_SECRET: required to sign an hs256 token".into())
        })?;
        mint_hs256(secret, &claims).map_err(|e| Failure::Usage(format!("CARTD_JWT_SECRET: {e}")))?
    } else {
        let wanted: KeyKind = args
            .alg
            .parse()
            .map_err(|e| Failure::Usage(format!("--alg: {e}")))?;
        let path = args
            .key
            .as_deref()
            .ok_or_else(|| Failure::Usage(format!("--key: required for --alg {}", args.alg)))?;
        let key = crate::jwks::read_key(path)?;
        if key.algorithm() != wanted.algorithm() {
            return Err(Failure::Usage(format!(
                "--key {}: a {:?} key cannot sign {}",
                path.display(),
                key.algorithm(),
                args.alg
            )));
        }
        key.sign(&claims).map_err(|e| Failure::Runtime(e.into()))?
    };
    println!("{token}");
    Ok(())
}

/// `cartd health`: asks a running cartd's `/health`, for a container's health check (the
/// runtime image has no shell and no curl). Exit 0 when it answers 200, 1 otherwise.
pub async fn health(args: &HealthArgs) -> Result<(), Failure> {
    let url = match &args.url {
        Some(url) => url.clone(),
        None => {
            let mut address = args.listen;
            // A server listening on every address is asked on loopback.
            if address.ip().is_unspecified() {
                address.set_ip(match address {
                    std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            format!("http://{address}/health")
        }
    };
    // Plain HTTP on loopback: no certificate store is read, so an image without one (a
    // `FROM scratch` image) can still run its health check.
    let client = reqwest::Client::builder()
        .tls_certs_only([])
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .context("HTTP client")?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("{url} did not answer"))?;
    let status = response.status();
    if status == reqwest::StatusCode::OK {
        println!("{url}: {status}");
        Ok(())
    } else {
        Err(Failure::Runtime(anyhow::anyhow!("{url} answered {status}")))
    }
}
