//! GraphQL test clients: requests to `/graphql`, a `graphql-transport-ws` client for
//! `/graphql/ws`, and the normalisation that lets a GraphQL cart be compared with a REST cart.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{Answer, TestApp};

/// Every field of a cart, as a fragment.
pub const CART_FIELDS: &str = "
fragment CartFields on Cart {
  id userId owner currency itemCount totalQuantity region discountCodes version createdAt updatedAt expiresAt
  checkout { orderId status }
  totalPrice { amount amount64 currency }
  items {
    itemId productId variantId name quantity addedAt updatedAt
    unitPrice { amount amount64 currency }
    subtotal { amount amount64 currency }
  }
}";

/// Every field of a mutation's payload.
pub const PAYLOAD_FIELDS: &str = "
  cart { ...CartFields }
  userErrors { code field message details }
  merge {
    strategy guestId guestCartFound dryRun
    lines { productId variantId source outcome reason guestQuantity userQuantity quantity }
  }";

impl TestApp {
    /// `POST /graphql` with `query` and `variables`, as `token`'s bearer (or anonymously).
    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Answer {
        let mut request = self
            .request(Method::POST, "/graphql")
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    /// `GET /graphql?query=…`, anonymously.
    pub async fn graphql_get(&self, query: &str) -> Answer {
        let url =
            reqwest::Url::parse_with_params(&format!("{}/graphql", self.base), &[("query", query)])
                .expect("url");
        self.send(self.client.get(url)).await
    }

    /// Runs one mutation whose selection is [`PAYLOAD_FIELDS`]: `call` is e.g.
    /// `addItem(cartKey: $key, productId: "book", quantity: 1)`, `declarations` its variable
    /// list, e.g. `$key: ID!`.
    pub async fn mutate(
        &self,
        declarations: &str,
        call: &str,
        variables: Value,
        token: Option<&str>,
    ) -> Answer {
        let query = format!(
            "mutation ({declarations}) {{ payload: {call} {{ {PAYLOAD_FIELDS} }} }} {CART_FIELDS}"
        );
        self.graphql(&query, variables, token).await
    }
}

/// The first error's `extensions.code`, if the answer has errors.
pub fn error_code(answer: &Answer) -> Option<&str> {
    answer.body["errors"][0]["extensions"]["code"].as_str()
}

/// The first `userErrors` code of the mutation answered as `payload`.
pub fn user_error_code(answer: &Answer) -> Option<&str> {
    answer.body["data"]["payload"]["userErrors"][0]["code"].as_str()
}

/// A GraphQL value in REST's shape: camelCase names in snake_case, `Money` as its amount in
/// minor units (checking `amount64` and the cart's currency agree), enums in lower case.
pub fn rest_shape(value: &Value) -> Value {
    match value {
        // Money is the object with `amount64` (totals' code results and tax lines have an
        // `amount` of their own, which is Money).
        Value::Object(members) if members.contains_key("amount64") => {
            assert_eq!(
                members["amount64"].as_str().map(str::to_owned),
                members["amount"].as_i64().map(|a| a.to_string()),
                "amount64 and amount agree"
            );
            members["amount"].clone()
        }
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(name, value)| {
                    let name = snake_case(name);
                    let value = match (name.as_str(), value) {
                        (
                            "owner" | "strategy" | "source" | "outcome" | "reason" | "status",
                            Value::String(s),
                        ) => Value::String(s.to_lowercase()),
                        _ => rest_shape(value),
                    };
                    (name, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(rest_shape).collect()),
        other => other.clone(),
    }
}

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A cart (or merge report) with the ids that differ between two fresh carts masked: cart and
/// item ids, the cart key, the guest id.
pub fn masked(value: &Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(name, value)| {
                    let value = match name.as_str() {
                        "id" | "item_id" | "user_id" | "guest_id" => json!("<id>"),
                        _ => masked(value),
                    };
                    (name.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(masked).collect()),
        other => other.clone(),
    }
}

/// What a WebSocket client receives.
#[derive(Debug)]
pub enum Incoming {
    /// A protocol message.
    Message(Value),
    /// The server closed the connection with this code and reason.
    Closed(u16, String),
}

/// A `graphql-transport-ws` client.
pub struct GraphqlWs {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// How long a test waits for a message that should come.
pub const PATIENCE: Duration = Duration::from_secs(15);

impl GraphqlWs {
    /// Opens `/graphql/ws` speaking `graphql-transport-ws`.
    pub async fn connect(app: &TestApp) -> Self {
        let url = format!("{}/graphql/ws", app.base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().expect("request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket upgrade");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some("graphql-transport-ws")
        );
        Self { socket }
    }

    /// Connects and initialises with `payload`, expecting `connection_ack`.
    pub async fn ready(app: &TestApp, payload: Value) -> Self {
        let mut client = Self::connect(app).await;
        client
            .send(json!({"type": "connection_init", "payload": payload}))
            .await;
        match client.receive().await {
            Incoming::Message(ack) => assert_eq!(ack["type"], "connection_ack", "{ack}"),
            closed => panic!("expected connection_ack, got {closed:?}"),
        }
        client
    }

    /// Sends one protocol message.
    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }

    /// Subscribes to `query` under `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({
            "id": id, "type": "subscribe",
            "payload": {"query": query, "variables": variables},
        }))
        .await;
    }

    /// The next message or the close (waiting at most [`PATIENCE`]).
    pub async fn receive(&mut self) -> Incoming {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("a message in time");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Incoming::Message(serde_json::from_str(&text).expect("json"));
                }
                Some(Ok(Message::Close(frame))) => {
                    return frame.map_or(Incoming::Closed(1005, String::new()), |f| {
                        Incoming::Closed(u16::from(f.code), f.reason.to_string())
                    });
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Incoming::Closed(1006, String::new()),
            }
        }
    }

    /// The next protocol message, which must not be a close.
    pub async fn message(&mut self) -> Value {
        match self.receive().await {
            Incoming::Message(message) => message,
            closed => panic!("expected a message, got {closed:?}"),
        }
    }

    /// Pings and waits for the pong: the connection still works.
    pub async fn ping(&mut self) {
        self.send(json!({"type": "ping"})).await;
        loop {
            let message = self.message().await;
            if message["type"] == "pong" {
                return;
            }
        }
    }
}
