//! The events' JSON Schemas (`docs/events/`), compiled into the binary so silver validates
//! against exactly the schemas the service's tests check its events with.

use std::collections::HashMap;

use serde_json::Value;

/// The envelope every type's schema refers to.
const ENVELOPE: &str = include_str!("../../../docs/events/envelope.json");

/// Each event type with its schema.
const TYPES: &[(&str, &str)] = &[
    (
        "cart.checked_out",
        include_str!("../../../docs/events/cart.checked_out.json"),
    ),
    (
        "cart.cleared",
        include_str!("../../../docs/events/cart.cleared.json"),
    ),
    (
        "cart.created",
        include_str!("../../../docs/events/cart.created.json"),
    ),
    (
        "cart.discount_code_added",
        include_str!("../../../docs/events/cart.discount_code_added.json"),
    ),
    (
        "cart.discount_code_removed",
        include_str!("../../../docs/events/cart.discount_code_removed.json"),
    ),
    (
        "cart.item_added",
        include_str!("../../../docs/events/cart.item_added.json"),
    ),
    (
        "cart.item_removed",
        include_str!("../../../docs/events/cart.item_removed.json"),
    ),
    (
        "cart.item_updated",
        include_str!("../../../docs/events/cart.item_updated.json"),
    ),
    (
        "cart.merged",
        include_str!("../../../docs/events/cart.merged.json"),
    ),
    (
        "cart.merged_away",
        include_str!("../../../docs/events/cart.merged_away.json"),
    ),
    (
        "cart.region_set",
        include_str!("../../../docs/events/cart.region_set.json"),
    ),
    (
        "cart.repriced",
        include_str!("../../../docs/events/cart.repriced.json"),
    ),
    (
        "cart.unlocked",
        include_str!("../../../docs/events/cart.unlocked.json"),
    ),
    (
        "order.cancelled",
        include_str!("../../../docs/events/order.cancelled.json"),
    ),
    (
        "order.created",
        include_str!("../../../docs/events/order.created.json"),
    ),
    (
        "order.expired",
        include_str!("../../../docs/events/order.expired.json"),
    ),
    (
        "order.failed",
        include_str!("../../../docs/events/order.failed.json"),
    ),
    (
        "order.fulfilled",
        include_str!("../../../docs/events/order.fulfilled.json"),
    ),
    (
        "order.paid",
        include_str!("../../../docs/events/order.paid.json"),
    ),
    (
        "order.payment_failed",
        include_str!("../../../docs/events/order.payment_failed.json"),
    ),
];

/// A validator per event type.
pub struct Schemas {
    by_type: HashMap<&'static str, jsonschema::Validator>,
}

impl Schemas {
    /// Compiles every type's schema against the envelope.
    pub fn load() -> Self {
        let envelope: Value =
            serde_json::from_str(ENVELOPE).expect("docs/events/envelope.json is JSON");
        let registry = jsonschema::Registry::new()
            .add("https://cartd.dev/schemas/events/envelope.json", envelope)
            .expect("the envelope is a schema resource")
            .prepare()
            .expect("the envelope's references resolve");
        let by_type = TYPES
            .iter()
            .map(|(name, text)| {
                let schema: Value = serde_json::from_str(text).expect("an event schema is JSON");
                let validator = jsonschema::options()
                    .should_validate_formats(true)
                    .with_registry(&registry)
                    .build(&schema)
                    .unwrap_or_else(|e| panic!("docs/events/{name}.json: {e}"));
                (*name, validator)
            })
            .collect();
        Self { by_type }
    }

    /// Why `event` breaks its type's schema, or `None` when it conforms.
    pub fn violation(&self, event: &Value) -> Option<String> {
        let Some(event_type) = event.get("type").and_then(Value::as_str) else {
            return Some("no string `type`".to_owned());
        };
        let Some(validator) = self.by_type.get(event_type) else {
            return Some(format!("unknown event type `{event_type}`"));
        };
        validator.validate(event).err().map(|error| {
            let at = error.instance_path().to_string();
            if at.is_empty() {
                format!("schema: {error}")
            } else {
                format!("schema: {error} at {at}")
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_compiles_and_a_broken_event_names_its_fault() {
        let schemas = Schemas::load();
        assert_eq!(schemas.by_type.len(), TYPES.len());
        let broken = serde_json::json!({"type": "cart.item_added", "specversion": "1.0"});
        let why = schemas.violation(&broken).expect("a violation");
        assert!(why.starts_with("schema:"), "{why}");
        let unknown = serde_json::json!({"type": "cart.exploded"});
        assert_eq!(
            schemas.violation(&unknown).as_deref(),
            Some("unknown event type `cart.exploded`")
        );
    }
}
