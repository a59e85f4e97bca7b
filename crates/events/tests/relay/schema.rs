//! Every event type the service emits, published through the file sink (the embedded
//! default) and validated against its JSON Schema in `docs/events/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cart_core::{
    AddItem, CartKey, Command, GuestId, MergeRequest, MergeStrategy, PricingKind, ProductId,
    PromotionCode, Region, RemoveItem, RequestedQuantity, SetQuantity, UserId, WriteOptions,
};
use cart_events::sink::{self, SinkUrl};

use cart_core::order::Action;

use crate::common::{TestQuoter, World};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/events")
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A validator for one event type, with `envelope.json` available to its `$ref`.
fn validator(event_type: &str) -> jsonschema::Validator {
    let dir = schemas_dir();
    let envelope = read_json(&dir.join("envelope.json"));
    let schema = read_json(&dir.join(format!("{event_type}.json")));
    let registry = jsonschema::Registry::new()
        .add("https://cartd.dev/schemas/events/envelope.json", envelope)
        .expect("envelope resource")
        .prepare()
        .expect("registry");
    jsonschema::options()
        .should_validate_formats(true)
        .with_registry(&registry)
        .build(&schema)
        .unwrap_or_else(|e| panic!("schema for {event_type}: {e}"))
}

fn add(product: &str, quantity: u64) -> AddItem {
    AddItem {
        product_id: ProductId::parse(product).expect("id"),
        variant_id: None,
        quantity: RequestedQuantity::new(quantity).expect("quantity"),
        asserted_unit_price: None,
    }
}

fn traced() -> WriteOptions {
    WriteOptions {
        traceparent: Some(TRACEPARENT.into()),
        ..WriteOptions::default()
    }
}

/// The provider's word that `order` is paid.
async fn pay(service: &cart_core::CartService, order: &cart_core::order::Order, event: &str) {
    service
        .apply_payment(
            order.id,
            event,
            true,
            order.payment.amount,
            &order.payment.currency,
            None,
        )
        .await
        .expect("paid");
}

/// Fulfils every order at once.
struct Immediately;

#[async_trait::async_trait]
impl cart_core::use_cases::Fulfiller for Immediately {
    async fn fulfil(&self, _order: &cart_core::order::Order) -> Result<(), String> {
        Ok(())
    }
}

/// Places an order for the user `buyer`: a book, shipped to California.
async fn place_order(world: &World, buyer: &str) -> cart_core::order::Order {
    let key = CartKey::User(UserId::parse(buyer).expect("user"));
    for command in [
        Command::AddItem(add("book-5", 1)),
        Command::SetRegion(Region::parse("US-CA").expect("region")),
    ] {
        world
            .service
            .execute(&key, command, WriteOptions::default())
            .await
            .expect("ready");
    }
    let cart = world.service.get(&key).await.expect("cart");
    let quote = cart_core::Quoter::quote(&TestQuoter, &cart)
        .await
        .expect("quote");
    let address = cart_core::order::Address {
        name: "Zoë".into(),
        line1: "1 Market St".into(),
        line2: None,
        city: "San Francisco".into(),
        postal_code: "94105".into(),
        state: Some("CA".into()),
        country: "US".into(),
    };
    let details = cart_core::order::CheckoutDetails {
        quote_token: quote.token,
        email: "zoe@example.com".into(),
        shipping_address: address.clone(),
        billing_address: address,
        number_of_installments: 2,
    };
    let written = world
        .service
        .checkout(&key, &details, &TestQuoter, traced())
        .await
        .expect("checkout");
    written.outcome.order().expect("order").clone()
}

#[tokio::test]
async fn every_emitted_event_matches_the_schema_of_its_type() {
    let world = World::new().await;
    let service = &world.service;
    let guest = GuestId::from_ulid_bits(uuid::Uuid::now_v7().as_u128());
    let guest_key = CartKey::Guest(guest.clone());
    let user = UserId::parse("schema-user").expect("user");
    let user_key = CartKey::User(user.clone());

    // created + item_added, item_updated, item_removed, cleared, then a merge.
    let added = service
        .execute(&user_key, Command::AddItem(add("book-1", 2)), traced())
        .await
        .expect("add");
    let item_id = added.outcome.cart().expect("cart").items()[0].item_id();
    let quantity = RequestedQuantity::new(5).expect("q");
    let steps = [
        (
            &user_key,
            Command::SetQuantity(SetQuantity { item_id, quantity }),
            traced(),
        ),
        (
            &user_key,
            Command::AddItem(add("book-2", 1)),
            WriteOptions::default(),
        ),
        (
            &user_key,
            Command::RemoveItem(RemoveItem { item_id }),
            WriteOptions::default(),
        ),
        (&user_key, Command::Clear, WriteOptions::default()),
        (
            &guest_key,
            Command::AddItem(add("book-3", 1)),
            WriteOptions::default(),
        ),
        (
            &user_key,
            Command::Merge(MergeRequest {
                guest,
                strategy: MergeStrategy::Sum,
                dry_run: false,
            }),
            traced(),
        ),
    ];
    for (key, command, options) in steps {
        let name = command.name();
        service.execute(key, command, options).await.expect(name);
    }
    // The pricing writes: a region, a code on and off, and a reprice after a price change.
    world
        .pricing
        .put_setting(
            PricingKind::Promotion,
            "SAVE10",
            r#"{"type":"percentage","percent":"10"}"#,
        )
        .await
        .expect("promotion");
    let code = PromotionCode::parse("save10").expect("code");
    let pricing_steps = [
        Command::AddItem(add("book-4", 1)),
        Command::SetRegion(Region::parse("US-CA").expect("region")),
        Command::AddDiscountCode(code.clone()),
        Command::RemoveDiscountCode(code),
    ];
    for command in pricing_steps {
        let name = command.name();
        service
            .execute(&user_key, command, traced())
            .await
            .expect(name);
    }
    world.set_price("book-4", 2_000).await;
    service
        .execute(&user_key, Command::Reprice, traced())
        .await
        .expect("reprice");

    // Orders: one paid and fulfilled, one whose payment fails, one cancelled, one whose
    // fulfilment fails for good, one never paid.
    let mut placed = Vec::new();
    for n in 0..5 {
        placed.push(place_order(&world, &format!("buyer-{n}")).await);
    }
    let system = cart_core::use_cases::Actor::System;
    pay(service, &placed[0], "evt_0").await;
    let pass = service
        .fulfil_due(&Immediately, 10, time::Duration::minutes(1), &|_| {
            time::Duration::SECOND
        })
        .await
        .expect("worker");
    assert_eq!(pass.fulfilled, 1);
    service
        .apply_payment(
            placed[1].id,
            "evt_1",
            false,
            placed[1].payment.amount,
            &placed[1].payment.currency,
            Some("card declined".into()),
        )
        .await
        .expect("failed");
    service
        .act_on_order(
            placed[2].id,
            Action::Cancel,
            &system,
            None,
            Some(TRACEPARENT),
        )
        .await
        .expect("cancel");
    pay(service, &placed[3], "evt_3").await;
    service
        .act_on_order(
            placed[3].id,
            Action::Fail,
            &system,
            Some("the warehouse is gone".into()),
            None,
        )
        .await
        .expect("fail");
    assert_eq!(service.expire_due_orders(10).await.expect("expire"), 1);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.ndjson");
    let file = sink::connect(&SinkUrl::File(path.clone()))
        .await
        .expect("file sink");
    let published = world.relay(vec![file]).drain().await.expect("drain");
    assert_eq!(published, world.committed().len());

    let mut types = BTreeSet::new();
    let mut traced_events = 0;
    for line in std::fs::read_to_string(&path).expect("events file").lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("json line");
        let event_type = event["type"].as_str().expect("type").to_owned();
        let validator = validator(&event_type);
        let errors: Vec<String> = validator
            .iter_errors(&event)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{event_type}: {errors:?}\n{event:#}");
        if event.get("traceparent").and_then(|t| t.as_str()) == Some(TRACEPARENT) {
            traced_events += 1;
        }
        types.insert(event_type);
    }
    let expected: BTreeSet<String> = [
        "cart.created",
        "cart.item_added",
        "cart.item_updated",
        "cart.item_removed",
        "cart.cleared",
        "cart.merged",
        "cart.merged_away",
        "cart.region_set",
        "cart.discount_code_added",
        "cart.discount_code_removed",
        "cart.repriced",
        "cart.checked_out",
        "cart.unlocked",
        "order.created",
        "order.paid",
        "order.payment_failed",
        "order.expired",
        "order.cancelled",
        "order.fulfilled",
        "order.failed",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(types, expected, "every type was emitted and checked");
    lake_fixture(&path, &expected);
    // The first add (created + item_added), the update, and the merge's events were traced.
    assert!(
        traced_events >= 5,
        "traceparent travels with its events ({traced_events})"
    );
}

/// The lake's tests read a recording of this run (`crates/lake/tests/fixtures/`): events of
/// every type as the service emits them. `UPDATE_LAKE_FIXTURE=1` records it again; otherwise
/// the recording must still hold every type the service emits.
fn lake_fixture(events: &Path, types: &BTreeSet<String>) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lake/tests/fixtures/every_event_type.ndjson");
    if std::env::var("UPDATE_LAKE_FIXTURE").as_deref() == Ok("1") {
        std::fs::copy(events, &fixture).expect("record the lake fixture");
        return;
    }
    let recorded: BTreeSet<String> = std::fs::read_to_string(&fixture)
        .expect("the lake fixture")
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).expect("json line");
            event["type"].as_str().expect("type").to_owned()
        })
        .collect();
    assert_eq!(
        &recorded, types,
        "the lake fixture misses a type: record it with UPDATE_LAKE_FIXTURE=1"
    );
}

#[test]
fn the_schemas_refuse_an_event_that_breaks_them() {
    let valid = serde_json::json!({
        "specversion": "1.0",
        "id": "0190f0a0-0000-7000-8000-000000000001",
        "source": "/cartd",
        "type": "cart.item_removed",
        "subject": "alice",
        "time": "2026-11-30T12:00:00Z",
        "datacontenttype": "application/json",
        "sequence": "00000000000000000003",
        "data": {
            "cart_id": "0190f0a0-0000-4000-8000-000000000002",
            "cart_key": "alice",
            "owner": "user",
            "version": 3,
            "line": {
                "item_id": "0190f0a0-0000-4000-8000-000000000003",
                "product_id": "book-1",
                "variant_id": null,
                "quantity_before": 2,
                "quantity_after": 0,
                "unit_price": 1001
            },
            "totals": { "item_count": 0, "total_quantity": 0, "total_price": 0 },
            "currency": "USD"
        }
    });
    let validator = validator("cart.item_removed");
    assert!(validator.is_valid(&valid), "the sample is valid");
    let mut breaks: Vec<(&str, serde_json::Value)> = Vec::new();
    let mut missing_version = valid.clone();
    missing_version["data"]
        .as_object_mut()
        .expect("data")
        .remove("version");
    breaks.push(("data.version missing", missing_version));
    let mut wrong_type = valid.clone();
    wrong_type["type"] = "cart.item_added".into();
    breaks.push(("another type's event", wrong_type));
    let mut line_kept = valid.clone();
    line_kept["data"]["line"]["quantity_after"] = 1.into();
    breaks.push(("a removed line with units left", line_kept));
    let mut bad_sequence = valid.clone();
    bad_sequence["sequence"] = "3".into();
    breaks.push(("an unpadded sequence", bad_sequence));
    let mut extra = valid;
    extra["data"]["price_from_client"] = 1.into();
    breaks.push(("an unknown data field", extra));
    for (what, event) in breaks {
        assert!(!validator.is_valid(&event), "{what} must be refused");
    }
}
