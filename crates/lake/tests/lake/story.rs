//! Schema-valid cartd events for the tests, built the way the service builds them: each
//! cart's versions go up by one per commit, totals follow the lines.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use uuid::Uuid;

/// One cart's history as events.
pub struct Cart {
    pub id: Uuid,
    pub key: String,
    pub currency: String,
    version: i64,
    /// item id → (product, quantity, unit price).
    lines: BTreeMap<Uuid, (String, i64, i64)>,
}

impl Cart {
    /// A guest cart in `currency`.
    pub fn guest(currency: &str) -> Self {
        Self {
            id: Uuid::new_v4(),
            key: format!("guest_{}", ulid::Ulid::new()),
            currency: currency.to_owned(),
            version: 0,
            lines: BTreeMap::new(),
        }
    }

    /// `cart.created` and a first `cart.item_added` in one commit at `at`.
    pub fn create_with(
        &mut self,
        at: &str,
        product: &str,
        quantity: i64,
        price: i64,
    ) -> Vec<Value> {
        self.version += 1;
        let created = self.event("cart.created", at, Value::Null, None);
        self.version -= 1;
        let mut events = vec![created];
        events.extend(self.add(at, product, quantity, price));
        events
    }

    /// Adds `quantity` of `product` (a new line, or more of an existing one).
    pub fn add(&mut self, at: &str, product: &str, quantity: i64, price: i64) -> Vec<Value> {
        self.version += 1;
        let existing = self
            .lines
            .iter()
            .find(|(_, (p, _, _))| p == product)
            .map(|(id, (_, q, _))| (*id, *q));
        let (item, before) = existing.unwrap_or((Uuid::new_v4(), 0));
        self.lines
            .insert(item, (product.to_owned(), before + quantity, price));
        let line = json!({"item_id": item, "product_id": product, "variant_id": null,
                          "quantity_before": before, "quantity_after": before + quantity,
                          "unit_price": price});
        vec![self.event("cart.item_added", at, line, None)]
    }

    /// Removes the line of `product`.
    pub fn remove(&mut self, at: &str, product: &str) -> Vec<Value> {
        self.version += 1;
        let (item, (_, before, price)) = self
            .lines
            .iter()
            .find(|(_, (p, _, _))| p == product)
            .map(|(id, line)| (*id, line.clone()))
            .expect("a line of that product");
        self.lines.remove(&item);
        let line = json!({"item_id": item, "product_id": product, "variant_id": null,
                          "quantity_before": before, "quantity_after": 0, "unit_price": price});
        vec![self.event("cart.item_removed", at, line, None)]
    }

    /// Empties the cart.
    pub fn clear(&mut self, at: &str) -> Vec<Value> {
        self.version += 1;
        self.lines.clear();
        vec![self.event("cart.cleared", at, Value::Null, None)]
    }

    /// Checks the cart out: `cart.checked_out`, and the order's `order.created`.
    pub fn check_out(&mut self, at: &str) -> Vec<Value> {
        self.version += 1;
        let order = json!({"order_id": Uuid::new_v4(), "number": "CD-000123",
                           "status": "pending_payment", "buyer_id": self.key,
                           "number_of_installments": 1, "total_amount": self.total(),
                           "currency": self.currency, "purchase_date": at, "reason": null});
        let checked_out = self.event("cart.checked_out", at, Value::Null, Some(order.clone()));
        let mut created = checked_out.clone();
        created["id"] = json!(Uuid::now_v7());
        created["type"] = json!("order.created");
        created["subject"] = order["order_id"].clone();
        created["sequence"] = json!(format!("{:020}", 1));
        created["data"]["version"] = json!(1);
        vec![checked_out, created]
    }

    fn total(&self) -> i64 {
        self.lines.values().map(|(_, q, p)| q * p).sum()
    }

    fn event(&self, kind: &str, at: &str, line: Value, order: Option<Value>) -> Value {
        let mut data = json!({
            "cart_id": self.id, "cart_key": self.key, "owner": "guest", "version": self.version,
            "line": line,
            "totals": {"item_count": self.lines.len(),
                       "total_quantity": self.lines.values().map(|(_, q, _)| q).sum::<i64>(),
                       "total_price": self.total()},
            "currency": self.currency,
        });
        if let Some(order) = order {
            data["order"] = order;
        }
        json!({
            "specversion": "1.0", "id": Uuid::now_v7(), "source": "/cartd", "type": kind,
            "subject": self.key, "time": at, "datacontenttype": "application/json",
            "sequence": format!("{:020}", self.version), "data": data,
        })
    }
}

/// Events as the file sink writes them: one JSON document per line.
pub fn ndjson(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}
