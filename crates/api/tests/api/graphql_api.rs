//! GraphQL over HTTP: the schema document, reads, GET rules, transport refusals, idempotency
//! and the introspection switch.

use reqwest::{Method, StatusCode};
use serde_json::json;

use cart_api::graphql::GraphqlConfig;

use crate::graphql_helpers::{CART_FIELDS, error_code, masked, rest_shape, user_error_code};
use crate::helpers::{Options, guest, spawn_app, spawn_with, token};

/// `docs/schema.graphql` is the schema generated from the code; regenerate with
/// `UPDATE_SCHEMA=1 cargo test -p cart-api --test api graphql_schema`.
#[tokio::test]
async fn graphql_schema_is_generated_and_matches_docs() {
    let generated = cart_api::graphql::sdl();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema.graphql");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write docs/schema.graphql");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/schema.graphql is stale: run UPDATE_SCHEMA=1 cargo test -p cart-api --test api graphql_schema"
    );
    for shape in [
        "cart(key: ID!): Cart",
        "myCart: Cart",
        "product(id: ID!): Product",
        "products(first: Int, after: String): ProductConnection!",
        "createGuest: GuestPayload!",
        "cartUpdated(key: ID!): CartUpdate!",
        "userErrors: [UserError!]!",
        "merge: MergeReport",
        "scalar Int64",
    ] {
        assert!(generated.contains(shape), "the schema has {shape}");
    }
}

#[tokio::test]
async fn a_cart_reads_the_same_as_rest_and_errors_carry_rest_codes() {
    let app = spawn_app().await;
    let key = guest();
    app.add_product(&key, "book", 2).await;
    let rest = app.get_cart(&key, None).await;
    let query =
        format!("query ($key: ID!) {{ cart(key: $key) {{ ...CartFields }} }} {CART_FIELDS}");
    let read = app.graphql(&query, json!({"key": key}), None).await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(read.body["errors"].is_null(), "{}", read.body);
    assert_eq!(
        rest_shape(&read.body["data"]["cart"]),
        crate::helpers::cart_part(&rest.body)
    );
    assert_eq!(read.body["data"]["cart"]["owner"], "GUEST");
    assert_eq!(read.body["data"]["cart"]["totalPrice"]["amount64"], "2598");

    let missing = app.graphql(&query, json!({"key": guest()}), None).await;
    assert_eq!(error_code(&missing), Some("CART_NOT_FOUND"));
    assert!(missing.body["data"]["cart"].is_null());
    let malformed = app.graphql(&query, json!({"key": "guest_1"}), None).await;
    assert_eq!(error_code(&malformed), Some("INVALID_GUEST_ID"));
    assert_eq!(
        malformed.body["errors"][0]["extensions"]["details"],
        json!({"cart_key": "guest_1"})
    );
}

#[tokio::test]
async fn my_cart_needs_a_token_and_is_the_callers_own() {
    let app = spawn_app().await;
    let alice = token("alice");
    app.add(
        "me",
        json!({"product_id": "pen", "quantity": 3}),
        Some(&alice),
    )
    .await;
    let query = "{ myCart { userId owner totalQuantity } }";
    let mine = app.graphql(query, json!({}), Some(&alice)).await;
    assert_eq!(
        mine.body["data"]["myCart"],
        json!({"userId": "alice", "owner": "USER", "totalQuantity": 3})
    );
    let anonymous = app.graphql(query, json!({}), None).await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHORIZED"));
    let bobs = app
        .graphql(
            "{ cart(key: \"alice\") { version } }",
            json!({}),
            Some(&token("bob")),
        )
        .await;
    assert_eq!(error_code(&bobs), Some("FORBIDDEN"));
    let admin = app
        .graphql(
            "{ cart(key: \"alice\") { totalQuantity } }",
            json!({}),
            Some(&crate::helpers::token_with("support", Some("cart:admin"))),
        )
        .await;
    assert_eq!(admin.body["data"]["cart"]["totalQuantity"], 3);
}

#[tokio::test]
async fn products_page_as_a_relay_connection() {
    let app = spawn_app().await;
    let page = |after: Option<String>| {
        let app = &app;
        async move {
            let query = "query ($after: String) { products(first: 15, after: $after) {
                edges { cursor node { id name unitPrice { amount currency } active stock } }
                pageInfo { hasNextPage hasPreviousPage endCursor } } }";
            app.graphql(query, json!({"after": after}), None).await
        }
    };
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let answer = page(after.clone()).await;
        let connection = &answer.body["data"]["products"];
        for edge in connection["edges"].as_array().expect("edges") {
            assert_eq!(edge["cursor"], edge["node"]["id"]);
            ids.push(edge["node"]["id"].as_str().expect("id").to_owned());
        }
        assert_eq!(connection["pageInfo"]["hasPreviousPage"], after.is_some());
        if connection["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = connection["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
    let rest = app
        .send(app.request(Method::GET, "/v1/products?limit=100"))
        .await;
    let rest_ids: Vec<String> = rest.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids, rest_ids);

    let product = app
        .graphql(
            "{ product(id: \"scarce\") { name unitPrice { amount currency } stock active taxClass } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        product.body["data"]["product"],
        json!({"name": "Product scarce", "unitPrice": {"amount": 700, "currency": "USD"},
               "stock": 3, "active": true, "taxClass": "reduced"})
    );
    let unknown = app
        .graphql("{ product(id: \"nope\") { name } }", json!({}), None)
        .await;
    assert_eq!(error_code(&unknown), Some("PRODUCT_NOT_FOUND"));
    let too_many = app
        .graphql(
            "{ products(first: 101) { edges { cursor } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(error_code(&too_many), Some("VALIDATION_ERROR"));
}

#[tokio::test]
async fn get_runs_queries_only() {
    let app = spawn_app().await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    let query = format!("{{ cart(key: \"{key}\") {{ version }} }}");
    let read = app.graphql_get(&query).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["data"]["cart"]["version"], 1);
    let mutation = format!("mutation {{ clearCart(cartKey: \"{key}\") {{ cart {{ version }} }} }}");
    let write = app.graphql_get(&mutation).await;
    assert_eq!(write.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&write), Some("METHOD_NOT_ALLOWED"));
    assert_eq!(
        app.get_cart(&key, None).await.body["version"],
        1,
        "nothing ran"
    );
    let nothing = app.send(app.request(Method::GET, "/graphql")).await;
    assert!(nothing.status.is_client_error(), "{:?}", nothing.status);
}

#[tokio::test]
async fn requests_refused_before_they_run_get_a_4xx_with_a_code() {
    let app = spawn_app().await;
    let forged = app
        .send(
            app.request(Method::POST, "/graphql")
                .bearer_auth(crate::helpers::signed(
                    json!({"sub": "alice", "exp": crate::helpers::unix_now() + 600}),
                    "not-the-secret-not-the-secret-not-the-secret",
                ))
                .json(&json!({"query": "{ createGuestIsNotAQuery: __typename }"})),
        )
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&forged), Some("UNAUTHORIZED"));
    assert!(forged.header("www-authenticate").is_some());

    let not_json = app
        .send(
            app.request(Method::POST, "/graphql")
                .header("content-type", "application/graphql")
                .body("{ __typename }"),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(&not_json), Some("UNSUPPORTED_MEDIA_TYPE"));

    let batch = app
        .send(
            app.request(Method::POST, "/graphql")
                .json(&json!([{"query": "{ __typename }"}, {"query": "{ __typename }"}])),
        )
        .await;
    assert_eq!(batch.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&batch), Some("VALIDATION_ERROR"));

    let no_query = app
        .send(
            app.request(Method::POST, "/graphql")
                .json(&json!({"variables": {}})),
        )
        .await;
    assert_eq!(no_query.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&no_query), Some("VALIDATION_ERROR"));

    let syntax = app.graphql("{ cart(key: ", json!({}), None).await;
    assert_eq!(syntax.status, StatusCode::OK);
    assert_eq!(error_code(&syntax), Some("GRAPHQL_PARSE_FAILED"));
    let unknown_field = app.graphql("{ carts { id } }", json!({}), None).await;
    assert_eq!(
        error_code(&unknown_field),
        Some("GRAPHQL_VALIDATION_FAILED")
    );
    let subscription_over_http = app
        .graphql(
            "subscription { cartUpdated(key: \"me\") { version } }",
            json!({}),
            None,
        )
        .await;
    assert!(error_code(&subscription_over_http).is_some());
}

#[tokio::test]
async fn a_retried_mutation_replays_its_first_answer_and_changes_nothing() {
    let app = spawn_app().await;
    let key = guest();
    let add = |quantity: i64, idempotency: &'static str| {
        let app = &app;
        let key = key.clone();
        async move {
            app.mutate(
                "$key: ID!, $quantity: Int!, $idem: String",
                "addItem(cartKey: $key, productId: \"book\", quantity: $quantity, \
                 idempotencyKey: $idem)",
                json!({"key": key, "quantity": quantity, "idem": idempotency}),
                None,
            )
            .await
        }
    };
    let first = add(2, "order-7-add-book").await;
    assert!(first.body["errors"].is_null(), "{}", first.body);
    assert_eq!(first.body["data"]["payload"]["cart"]["version"], 1);
    let retry = add(2, "order-7-add-book").await;
    assert_eq!(retry.body, first.body, "the same payload");
    let cart = app.get_cart(&key, None).await;
    assert_eq!(cart.body["version"], 1);
    assert_eq!(cart.body["total_quantity"], 2);
    assert_eq!(
        app.events_of(&key).await.len(),
        2,
        "created + item_added, once"
    );

    let other = add(3, "order-7-add-book").await;
    assert_eq!(user_error_code(&other), Some("IDEMPOTENCY_KEY_REUSED"));
    assert_eq!(
        other.body["data"]["payload"]["userErrors"][0]["field"],
        "idempotencyKey"
    );
    // The key is scoped to caller and cart as in REST, and names a command, not a request:
    // the same command over REST replays, another is a reuse.
    let over_rest = |quantity: i64| {
        app.send(
            app.request(Method::POST, &format!("/v1/cart/{key}/items"))
                .header("idempotency-key", "order-7-add-book")
                .json(&json!({"product_id": "book", "quantity": quantity})),
        )
    };
    let replayed = over_rest(2).await;
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.body["version"], 1);
    assert_eq!(over_rest(3).await.code(), "IDEMPOTENCY_KEY_REUSED");
    // Another cart, same key: a new request.
    let elsewhere = app
        .mutate(
            "$key: ID!",
            "addItem(cartKey: $key, productId: \"book\", quantity: 2, \
             idempotencyKey: \"order-7-add-book\")",
            json!({"key": guest()}),
            None,
        )
        .await;
    assert_eq!(elsewhere.body["data"]["payload"]["cart"]["version"], 1);
    let bad_key = add(1, "").await;
    assert_eq!(user_error_code(&bad_key), Some("VALIDATION_ERROR"));
    assert_eq!(app.get_cart(&key, None).await.body["version"], 1);
}

#[tokio::test]
async fn a_replayed_clear_does_not_clear_again_and_a_replayed_merge_does_not_merge_again() {
    let app = spawn_app().await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    let clear = || {
        app.mutate(
            "$key: ID!",
            "clearCart(cartKey: $key, idempotencyKey: \"clear-1\")",
            json!({"key": key}),
            None,
        )
    };
    let first = clear().await;
    assert_eq!(first.body["data"]["payload"]["cart"]["itemCount"], 0);
    app.add_product(&key, "pen", 1).await;
    let retry = clear().await;
    assert_eq!(retry.body, first.body);
    assert_eq!(app.get_cart(&key, None).await.body["item_count"], 1);

    let alice = token("alice");
    let guest_id = guest();
    app.add_product(&guest_id, "lamp", 2).await;
    let merge = || {
        app.mutate(
            "$guest: ID!",
            "mergeGuestCart(guestId: $guest, strategy: SUM, idempotencyKey: \"signin-1\")",
            json!({"guest": guest_id}),
            Some(&alice),
        )
    };
    let merged = merge().await;
    let report = &merged.body["data"]["payload"]["merge"];
    assert_eq!(report["strategy"], "SUM");
    assert_eq!(report["lines"][0]["outcome"], "ADDED");
    assert_eq!(report["lines"][0]["reason"], "ONLY_IN_GUEST_CART");
    let again = merge().await;
    assert_eq!(again.body, merged.body);
    let cart = app.get_cart("me", Some(&alice)).await;
    assert_eq!(cart.body["total_quantity"], 2);
    assert_eq!(
        masked(&rest_shape(&merged.body["data"]["payload"]["cart"])),
        masked(&crate::helpers::cart_part(&cart.body))
    );
}

/// The introspection query of graphql-js 16 (`getIntrospectionQuery` with every option on:
/// descriptions, `specifiedByURL`, `isRepeatable`, schema description, deprecated input
/// values, `isOneOf`), exactly as GraphiQL, Apollo's tools and schemathesis send it: its
/// `TypeRef` fragment nests `ofType` nine levels deep.
const INTROSPECTION_QUERY: &str = include_str!("fixtures/introspection.graphql");

/// The fields of `type_name` in an introspection answer, by name.
fn introspected_field<'a>(
    answer: &'a serde_json::Value,
    type_name: &str,
    field: &str,
) -> &'a serde_json::Value {
    let types = answer["data"]["__schema"]["types"]
        .as_array()
        .expect("types");
    let ty = types
        .iter()
        .find(|ty| ty["name"] == type_name)
        .unwrap_or_else(|| panic!("type {type_name}"));
    ty["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == field)
        .unwrap_or_else(|| panic!("field {type_name}.{field}"))
}

#[tokio::test]
async fn the_standard_introspection_query_runs_under_the_default_limits() {
    let app = spawn_app().await;
    assert_eq!(
        app.state.graphql,
        GraphqlConfig::default(),
        "the limits cartd starts with"
    );
    for answer in [
        app.graphql(INTROSPECTION_QUERY, json!({}), None).await,
        app.graphql_get(INTROSPECTION_QUERY).await,
    ] {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(answer.body["errors"].is_null(), "{}", answer.body);
        let schema = &answer.body["data"]["__schema"];
        assert_eq!(schema["queryType"]["name"], "Query");
        assert_eq!(schema["mutationType"]["name"], "Mutation");
        assert_eq!(schema["subscriptionType"]["name"], "Subscription");
        // The wrapped types come back unwrapped to the named type: `[CartItem!]!`.
        let items = &introspected_field(&answer.body, "Cart", "items")["type"];
        assert_eq!(
            (
                &items["kind"],
                &items["ofType"]["kind"],
                &items["ofType"]["ofType"]["kind"],
                &items["ofType"]["ofType"]["ofType"]["name"],
            ),
            (
                &json!("NON_NULL"),
                &json!("LIST"),
                &json!("NON_NULL"),
                &json!("CartItem")
            ),
            "{items}"
        );
        let directives = schema["directives"].as_array().expect("directives");
        assert!(
            directives
                .iter()
                .all(|directive| directive["isRepeatable"].is_boolean()),
            "{directives:?}"
        );
    }
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let query = "{ __schema { queryType { name } } }";
    let open = spawn_app().await;
    let answer = open.graphql(query, json!({}), None).await;
    assert_eq!(
        answer.body["data"]["__schema"]["queryType"]["name"],
        "Query"
    );
    let closed = spawn_with(Options {
        graphql: GraphqlConfig {
            introspection: false,
            ..GraphqlConfig::default()
        },
        ..Options::default()
    })
    .await;
    // async-graphql answers introspection as if there were nothing to see.
    let hidden = closed.graphql(query, json!({}), None).await;
    assert_eq!(hidden.status, StatusCode::OK);
    assert_eq!(
        hidden.body["data"],
        json!({"__schema": null}),
        "{}",
        hidden.body
    );
    let typed = closed
        .graphql(
            "{ __type(name: \"Cart\") { fields { name } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        typed.body["data"],
        json!({"__type": null}),
        "{}",
        typed.body
    );
    // Without suggestions, a wrong field name does not reveal the right one.
    let guess = closed.graphql("{ carts { id } }", json!({}), None).await;
    let message = guess.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(!message.contains("Did you mean"), "{message}");
    let guest_id = closed
        .graphql("mutation { createGuest { guestId } }", json!({}), None)
        .await;
    let id = guest_id.body["data"]["createGuest"]["guestId"]
        .as_str()
        .expect("guest id");
    assert!(cart_core::GuestId::parse(id).is_ok(), "{id}");
}

#[tokio::test]
async fn a_broken_store_is_an_internal_error_that_leaks_nothing() {
    if crate::helpers::backend_under_test() != "sqlite" {
        return; // breaks the SQLite file directly
    }
    let app = spawn_app().await;
    let key = guest();
    app.add_product(&key, "book", 1).await;
    let side = rusqlite::Connection::open(&app.db_path).expect("open");
    side.execute_batch("DROP TABLE carts").expect("drop");
    let read = app
        .graphql(
            "query ($key: ID!) { cart(key: $key) { version } }",
            json!({"key": key}),
            None,
        )
        .await;
    let write = app
        .mutate(
            "$key: ID!",
            "addItem(cartKey: $key, productId: \"pen\", quantity: 1)",
            json!({"key": key}),
            None,
        )
        .await;
    for answer in [read, write] {
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            error_code(&answer),
            Some("INTERNAL_ERROR"),
            "{}",
            answer.body
        );
        assert_eq!(answer.body["errors"][0]["message"], "internal error");
        let text = answer.body.to_string();
        assert!(
            !text.contains("carts") && !text.to_lowercase().contains("sql"),
            "{text}"
        );
    }
}
