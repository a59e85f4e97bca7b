//! `cartd jwks keygen` and `cartd jwks serve`: a development identity provider, so the RS256 /
//! ES256 / EdDSA path can be tried (and is tested) end to end without an outside service. The
//! keys and the JWKS come from `cart-devidp`; this module adds the files and the HTTP server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use cart_devidp::{KeyKind, SigningKey};

use crate::Failure;

/// Writes a new private key to `out` (never over an existing file).
pub fn keygen(alg: &str, out: &Path) -> Result<(), Failure> {
    let kind: KeyKind = alg
        .parse()
        .map_err(|e| Failure::Usage(format!("--alg: {e}")))?;
    let pem = cart_devidp::generate_pem(kind).map_err(|e| Failure::Runtime(e.into()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .map_err(|e| Failure::Usage(format!("--out {}: {e}", out.display())))?;
    std::io::Write::write_all(&mut file, pem.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    let key = SigningKey::from_pem(pem.as_bytes()).map_err(|e| Failure::Runtime(e.into()))?;
    println!("{}", key.kid());
    Ok(())
}

/// Reads a private key file.
pub fn read_key(path: &Path) -> Result<SigningKey, Failure> {
    let pem = std::fs::read(path)
        .map_err(|e| Failure::Usage(format!("--key {}: {e}", path.display())))?;
    SigningKey::from_pem(&pem).map_err(|e| Failure::Usage(format!("--key {}: {e}", path.display())))
}

/// Serves the JWKS of `keys` until killed. Every request reads the files again.
pub async fn serve(keys: Vec<PathBuf>, listen: SocketAddr) -> Result<(), Failure> {
    for path in &keys {
        read_key(path)?;
    }
    let app = axum::Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/jwks.json", get(jwks))
        .with_state(Arc::new(keys));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::Usage(format!("--listen {listen}: {e}")))?;
    eprintln!(
        "serving a JWKS at http://{}/.well-known/jwks.json",
        listener.local_addr().context("local address")?
    );
    axum::serve(listener, app).await.context("serve")?;
    Ok(())
}

async fn jwks(State(paths): State<Arc<Vec<PathBuf>>>) -> Response {
    let keys: Result<Vec<SigningKey>, String> = paths
        .iter()
        .map(|path| read_key(path).map_err(|e| format!("{e:?}")))
        .collect();
    match keys {
        Ok(keys) => Json(cart_devidp::jwks(&keys)).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error).into_response(),
    }
}
