//! `/graphql/ws`: subscriptions over WebSocket (`graphql-transport-ws`; the legacy
//! `graphql-ws` subprotocol is also understood).
//!
//! Browsers cannot set headers on a WebSocket, so the caller is known from the
//! `connection_init` payload: `{"Authorization": "Bearer …"}` or `{"token": "…"}`, verified
//! like a REST bearer token; no credential is an anonymous (guest) connection. A credential
//! that is present but wrong closes the connection with `4403` (`1013` when the identity
//! provider cannot be reached) and a reason `"<CODE>: <message>"`. A connection that sends no
//! message within [`CONNECTION_INIT_TIMEOUT`] is closed with `4408`, so idle sockets cannot
//! pile up. Each connection holds at most `GraphqlConfig::max_subscriptions_per_connection`
//! subscriptions; messages are at most REST's 64 KiB.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::futures_util::{SinkExt, StreamExt, future, stream};
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Extension;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::auth::Caller;
use crate::extract::MAX_BODY_BYTES;
use crate::flags::{Feature, Flags, Subject};
use crate::graphql::CartSchema;
use crate::graphql::error::Refusal;
use crate::graphql::subscription::SubscriptionSlots;
use crate::identity::Authenticator;
use crate::problem::{ApiError, Code};
use crate::state::AppState;

/// The close code for a refused `connection_init` (graphql-transport-ws: Forbidden).
const CLOSE_FORBIDDEN: u16 = 4403;
/// The close code when the credential could not be checked now (RFC 6455: Try Again Later).
const CLOSE_TRY_AGAIN: u16 = 1013;
/// The close code async-graphql uses for a failed `connection_init`.
const CLOSE_INIT_FAILED: u16 = 1002;
/// The close code for a connection that did not initialise in time (graphql-transport-ws).
const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// The longest close reason a frame may carry (RFC 6455 §5.5).
const MAX_CLOSE_REASON: usize = 123;

/// How long a new connection may stay silent before its `connection_init`.
pub const CONNECTION_INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /graphql/ws`: upgrades to a GraphQL WebSocket.
pub async fn subscribe(
    State(state): State<AppState>,
    Extension(schema): Extension<CartSchema>,
    protocol: Result<GraphQLProtocol, StatusCode>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return ApiError::new(
                Code::ValidationError,
                format!(
                    "/graphql/ws takes a WebSocket upgrade (graphql-transport-ws): {rejection}"
                ),
            )
            .into_response();
        }
    };
    let Ok(protocol) = protocol else {
        return ApiError::new(
            Code::ValidationError,
            "Sec-WebSocket-Protocol must offer graphql-transport-ws",
        )
        .into_response();
    };
    let slots = Arc::new(Semaphore::new(
        state.graphql.max_subscriptions_per_connection,
    ));
    let gate = Gate {
        auth: state.auth.clone(),
        flags: state.flags.clone(),
    };
    upgrade
        .max_message_size(MAX_BODY_BYTES)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(socket, schema, protocol, gate, slots))
}

/// What `connection_init` checks: the token, and that GraphQL is on for its caller.
#[derive(Clone)]
struct Gate {
    auth: Arc<Authenticator>,
    flags: Arc<Flags>,
}

/// Runs one connection until either side closes it.
async fn serve(
    socket: WebSocket,
    schema: CartSchema,
    protocol: GraphQLProtocol,
    gate: Gate,
    slots: Arc<Semaphore>,
) {
    // Set by a refused `connection_init`: the close code to send instead of async-graphql's.
    let refusal = Arc::new(AtomicU16::new(0));
    let (mut sink, mut incoming) = socket.split();
    // Pings do not count as the client speaking (axum answers them by itself).
    let mut first = None;
    let spoke = tokio::time::timeout(CONNECTION_INIT_TIMEOUT, async {
        while let Some(message) = incoming.next().await {
            if !matches!(message, Ok(Message::Ping(_) | Message::Pong(_))) {
                first = Some(message);
                return;
            }
        }
    })
    .await;
    if spoke.is_err() {
        let frame = CloseFrame {
            code: CLOSE_INIT_TIMEOUT,
            reason: "Connection initialisation timeout".into(),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
        return;
    }
    let stream = stream::iter(first).chain(incoming);
    let closing = refusal.clone();
    let sink = sink
        .with(move |message| future::ready(Ok::<_, axum::Error>(close_code(message, &closing))));
    let mut data = Data::default();
    data.insert(SubscriptionSlots(slots));
    GraphQLWebSocket::new_with_pair(sink, stream, schema, protocol)
        .with_data(data)
        .on_connection_init(move |payload| connection_init(gate, payload, refusal))
        .serve()
        .await;
}

/// Who the `connection_init` payload names, as connection data; or why it is refused.
async fn connection_init(
    gate: Gate,
    payload: serde_json::Value,
    refusal: Arc<AtomicU16>,
) -> async_graphql::Result<Data> {
    let caller = match token(&payload) {
        Ok(None) => Ok(Caller::Anonymous),
        Ok(Some(token)) => gate.auth.verify(&token).await.map(Caller::from),
        Err(error) => Err(error),
    };
    let caller = caller.and_then(|caller| {
        gate.flags
            .require(Feature::Graphql, &Subject::caller(&caller))
            .map(|()| caller)
    });
    match caller {
        Ok(caller) => {
            let mut data = Data::default();
            data.insert(caller);
            Ok(data)
        }
        Err(error) => {
            let refused = Refusal::of(error);
            let code = if refused.code().status().is_server_error() {
                CLOSE_TRY_AGAIN
            } else {
                CLOSE_FORBIDDEN
            };
            refusal.store(code, Ordering::SeqCst);
            Err(async_graphql::Error::new(close_reason(&refused)))
        }
    }
}

/// The token in a `connection_init` payload: `Authorization: Bearer …` (any case) or `token`.
fn token(payload: &serde_json::Value) -> Result<Option<String>, ApiError> {
    let members = match payload {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Object(members) => members,
        _ => {
            return Err(ApiError::new(
                Code::Unauthorized,
                "the connection_init payload must be an object",
            ));
        }
    };
    let malformed = || ApiError::new(Code::Unauthorized, "Authorization must be `Bearer <token>`");
    let authorization = members
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value);
    if let Some(value) = authorization {
        let token = value
            .as_str()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(malformed)?;
        return Ok(Some(token.to_owned()));
    }
    match members.get("token") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(token)) if !token.trim().is_empty() => {
            Ok(Some(token.trim().to_owned()))
        }
        Some(_) => Err(malformed()),
    }
}

/// `"<CODE>: <message>"`, cut to fit a close frame.
fn close_reason(refusal: &Refusal) -> String {
    let mut reason = format!("{}: {}", refusal.code().as_str(), refusal.message());
    if reason.len() > MAX_CLOSE_REASON {
        let mut end = MAX_CLOSE_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// async-graphql closes a refused `connection_init` with 1002 (protocol error); the
/// protocol's code for it is 4403.
fn close_code(message: Message, refusal: &AtomicU16) -> Message {
    match (message, refusal.load(Ordering::SeqCst)) {
        (Message::Close(Some(frame)), code) if code != 0 && frame.code == CLOSE_INIT_FAILED => {
            Message::Close(Some(CloseFrame {
                code,
                reason: frame.reason,
            }))
        }
        (message, _) => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_token_comes_from_authorization_or_token() {
        assert_eq!(token(&json!(null)).ok(), Some(None));
        assert_eq!(token(&json!({})).ok(), Some(None));
        assert_eq!(
            token(&json!({"Authorization": "Bearer abc"})).ok(),
            Some(Some("abc".into()))
        );
        assert_eq!(
            token(&json!({"authorization": "bearer abc"})).ok(),
            Some(Some("abc".into()))
        );
        assert_eq!(
            token(&json!({"token": "abc"})).ok(),
            Some(Some("abc".into()))
        );
        for bad in [
            json!({"Authorization": "Basic abc"}),
            json!({"Authorization": 7}),
            json!({"token": ""}),
            json!("Bearer abc"),
        ] {
            assert!(token(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_close_reason_fits_a_frame() {
        let refusal = Refusal::of(ApiError::new(Code::Unauthorized, "é".repeat(100)));
        let reason = close_reason(&refusal);
        assert!(reason.len() <= MAX_CLOSE_REASON);
        assert!(reason.starts_with("UNAUTHORIZED: "));
    }
}
