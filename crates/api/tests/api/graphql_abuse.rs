//! Hostile GraphQL: each abuse is refused with a clear error and a code, never a 5xx, and the
//! server stays healthy.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::graphql_helpers::{GraphqlWs, Incoming, error_code};
use crate::helpers::{
    Answer, Options, TestApp, guest, signed, spawn_app, spawn_with, token, unix_now,
};

async fn still_healthy(app: &TestApp) {
    let health = app.send(app.request(Method::GET, "/health")).await;
    assert_eq!(health.status, StatusCode::OK);
}

fn refused_with(answer: &Answer, code: &str) {
    assert!(
        !answer.status.is_server_error(),
        "{}: {}",
        answer.status,
        answer.body
    );
    assert_eq!(error_code(answer), Some(code), "{}", answer.body);
    let message = answer.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(!message.is_empty(), "a message for people: {}", answer.body);
}

#[tokio::test]
async fn a_query_nested_past_the_depth_limit_is_refused() {
    let app = spawn_app().await;
    // Introspection that fans out with the schema's size: each `fields { type … }` multiplies.
    let fan_out = format!(
        "{{ __schema {{ types {{ {} name {} }} }} }}",
        "fields { type { ".repeat(5),
        "} }".repeat(5)
    );
    let answer = app.graphql(&fan_out, json!({}), None).await;
    refused_with(&answer, "QUERY_TOO_DEEP");
    assert!(answer.body["data"].is_null());
    // `ofType` chains add no depth, but they too end somewhere.
    let chain = format!(
        "{{ __type(name: \"Cart\") {{ {} name {} }} }}",
        "ofType { ".repeat(40),
        "}".repeat(40)
    );
    refused_with(
        &app.graphql(&chain, json!({}), None).await,
        "QUERY_TOO_DEEP",
    );
    // An ordinary query nested past the limit is refused before it is validated.
    let ordinary = format!(
        "{{ cart(key: \"{}\") {{ items {{ unitPrice {} amount {} }} }} }}",
        guest(),
        "{ a ".repeat(8),
        "}".repeat(8)
    );
    let answer = app.graphql(&ordinary, json!({}), None).await;
    refused_with(&answer, "QUERY_TOO_DEEP");
    assert!(answer.body["data"].is_null());
    // Far deeper than any limit, still inside the document size: refused before parsing (a
    // parser would run out of stack).
    let abyss = format!("{}{}", "{ a ".repeat(3000), "}".repeat(3000));
    refused_with(
        &app.graphql(&abyss, json!({}), None).await,
        "QUERY_TOO_DEEP",
    );
    let lists = format!(
        "{{ product(id: {}\"x\"{}) {{ id }} }}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    refused_with(
        &app.graphql(&lists, json!({}), None).await,
        "QUERY_TOO_DEEP",
    );
    // Just under that bound the parser copes, and the depth checks refuse.
    let steep = format!("{}{}", "{ a ".repeat(60), "}".repeat(60));
    refused_with(
        &app.graphql(&steep, json!({}), None).await,
        "QUERY_TOO_DEEP",
    );
    let nested_list = format!(
        "{{ product(id: {}\"x\"{}) {{ id }} }}",
        "[".repeat(60),
        "]".repeat(60)
    );
    let answer = app.graphql(&nested_list, json!({}), None).await;
    refused_with(&answer, "GRAPHQL_VALIDATION_FAILED");
    // Fragments that each spread the next twice would select 2^40 fields.
    let mut bomb = String::from("{ ...F0 }\n");
    for i in 0..40 {
        bomb.push_str(&format!(
            "fragment F{i} on Query {{ ...F{next} ...F{next} }}\n",
            next = i + 1
        ));
    }
    bomb.push_str("fragment F40 on Query { __typename }");
    refused_with(
        &app.graphql(&bomb, json!({}), None).await,
        "QUERY_TOO_COMPLEX",
    );
    still_healthy(&app).await;
}

#[tokio::test]
async fn an_oversized_document_is_refused_before_parsing() {
    let app = spawn_app().await;
    let padding = format!("# {}\n", "x".repeat(17 * 1024));
    let query = format!("{padding}{{ __typename }}");
    let answer = app.graphql(&query, json!({}), None).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    refused_with(&answer, "PAYLOAD_TOO_LARGE");
    assert_eq!(
        answer.body["errors"][0]["extensions"]["details"]["max_document_bytes"],
        16 * 1024
    );
    let get = app.graphql_get(&query).await;
    assert_eq!(get.status, StatusCode::PAYLOAD_TOO_LARGE);
    // A body over REST's 64 KiB is refused before it is read.
    let huge = format!("# {}\n{{ __typename }}", "x".repeat(70 * 1024));
    let body = app.graphql(&huge, json!({}), None).await;
    assert_eq!(body.status, StatusCode::PAYLOAD_TOO_LARGE);
    refused_with(&body, "PAYLOAD_TOO_LARGE");
    // Over WebSocket the same limit holds.
    let mut client = GraphqlWs::ready(&app, json!({})).await;
    client
        .subscribe(
            "big",
            &format!(
                "{padding}subscription {{ cartUpdated(key: \"{}\") {{ version }} }}",
                guest()
            ),
            json!({}),
        )
        .await;
    let message = client.message().await;
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE",
        "{message}"
    );
    client.ping().await;
    still_healthy(&app).await;
}

#[tokio::test]
async fn an_over_complex_query_is_refused() {
    let app = spawn_app().await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    let aliases: String = (0..130)
        .map(|i| format!("c{i}: cart(key: $key) {{ id version currency }} "))
        .collect();
    let query = format!("query ($key: ID!) {{ {aliases} }}");
    let answer = app.graphql(&query, json!({"key": key}), None).await;
    refused_with(&answer, "QUERY_TOO_COMPLEX");
    // Under the limit the same shape runs.
    let few: String = (0..10)
        .map(|i| format!("c{i}: cart(key: $key) {{ id version currency }} "))
        .collect();
    let answer = app
        .graphql(
            &format!("query ($key: ID!) {{ {few} }}"),
            json!({"key": key}),
            None,
        )
        .await;
    assert!(answer.body["errors"].is_null(), "{}", answer.body);
    still_healthy(&app).await;
}

#[tokio::test]
async fn a_subscription_flood_from_one_connection_is_capped() {
    let app = spawn_with(Options {
        relay: true,
        ..Options::default()
    })
    .await;
    let limit = cart_api::graphql::GraphqlConfig::default().max_subscriptions_per_connection;
    let key = guest();
    let query = "subscription ($key: ID!) { cartUpdated(key: $key) { version } }";
    let mut client = GraphqlWs::ready(&app, json!({})).await;
    for n in 0..=limit {
        client
            .subscribe(&n.to_string(), query, json!({"key": key}))
            .await;
    }
    // One of them (the server starts them in no particular order) is refused and completed;
    // the others stay.
    let refused = client.message().await;
    assert_eq!(refused["type"], "next", "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"],
        "TOO_MANY_SUBSCRIPTIONS"
    );
    let refused_id = refused["id"].as_str().expect("id").to_owned();
    let completed = client.message().await;
    assert_eq!(completed, json!({"type": "complete", "id": refused_id}));
    // Completing one frees its slot.
    let freed = if refused_id == "0" { "1" } else { "0" };
    client.send(json!({"id": freed, "type": "complete"})).await;
    client.ping().await;
    client.subscribe("again", query, json!({"key": key})).await;
    client.ping().await;
    app.add_product(&key, "pen", 1).await;
    let mut ids = Vec::new();
    // Two events (cart created, item added) for each of `limit` subscriptions.
    while ids.len() < limit * 2 {
        let message = client.message().await;
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        ids.push(message["id"].as_str().expect("id").to_owned());
    }
    assert!(ids.contains(&"again".to_owned()), "{ids:?}");
    assert!(!ids.contains(&freed.to_owned()), "{ids:?}");
    assert!(!ids.contains(&refused_id), "{ids:?}");
    // Another connection has its own slots.
    let mut other = GraphqlWs::ready(&app, json!({})).await;
    other.subscribe("x", query, json!({"key": key})).await;
    other.ping().await;
    still_healthy(&app).await;
}

#[tokio::test]
async fn a_mutation_on_another_users_cart_is_forbidden_and_writes_nothing() {
    let app = spawn_app().await;
    let answer = app
        .mutate(
            "",
            "addItem(cartKey: \"bob\", productId: \"book\", quantity: 1)",
            json!({}),
            Some(&token("alice")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    refused_with(&answer, "FORBIDDEN");
    assert!(answer.body["data"].is_null());
    let bobs = app.get_cart("me", Some(&token("bob"))).await;
    assert_eq!(bobs.code(), "CART_NOT_FOUND");
    let anonymous = app
        .mutate("", "clearCart(cartKey: \"bob\")", json!({}), None)
        .await;
    refused_with(&anonymous, "UNAUTHORIZED");
    let merge = app
        .mutate(
            "$g: ID!",
            "mergeGuestCart(guestId: $g)",
            json!({"g": guest()}),
            None,
        )
        .await;
    refused_with(&merge, "UNAUTHORIZED");
    still_healthy(&app).await;
}

#[tokio::test]
async fn a_forged_token_in_connection_init_closes_the_connection() {
    let app = spawn_app().await;
    let forged = signed(
        json!({"sub": "alice", "exp": unix_now() + 600}),
        "not-the-secret-not-the-secret-not-the-secret",
    );
    for payload in [
        json!({"Authorization": format!("Bearer {forged}")}),
        json!({"token": forged}),
        json!({"Authorization": "Basic YWxpY2U6"}),
        json!("a string"),
    ] {
        let mut client = GraphqlWs::connect(&app).await;
        client
            .send(json!({"type": "connection_init", "payload": payload}))
            .await;
        match client.receive().await {
            Incoming::Closed(code, reason) => {
                assert_eq!(code, 4403, "{payload}");
                assert!(reason.starts_with("UNAUTHORIZED: "), "{reason}");
            }
            other => panic!("{payload}: expected a close, got {other:?}"),
        }
    }
    // Subscribing before connection_init is refused too.
    let mut early = GraphqlWs::connect(&app).await;
    early
        .subscribe(
            "1",
            "subscription { cartUpdated(key: \"me\") { version } }",
            Value::Null,
        )
        .await;
    assert!(matches!(early.receive().await, Incoming::Closed(..)));
    // A WebSocket without the GraphQL subprotocol, and a plain GET, are 4xx.
    let plain = app.send(app.request(Method::GET, "/graphql/ws")).await;
    assert!(plain.status.is_client_error(), "{}", plain.status);
    still_healthy(&app).await;
    let good = GraphqlWs::ready(&app, json!({"token": token("alice")})).await;
    drop(good);
}

#[tokio::test]
async fn a_connection_that_never_initialises_is_closed() {
    let app = spawn_app().await;
    let mut silent = GraphqlWs::connect(&app).await;
    // The server's deadline comes before the client's patience; nothing is slept.
    tokio::time::pause();
    match silent.receive().await {
        Incoming::Closed(code, _) => assert_eq!(code, 4408),
        other => panic!("expected a close, got {other:?}"),
    }
    tokio::time::resume();
    still_healthy(&app).await;
}
