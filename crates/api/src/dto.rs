//! The JSON shapes of REST v1: responses built from domain values, and request bodies as they
//! arrive (checked further by the handlers).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use cart_core::{
    Currency, LineOutcome, LineSource, MergeLine, MergeReport, MergeStrategy, OutcomeReason, Owner,
    Product,
};

// A cart is rendered by `crate::cart_json` alone; `CartView`, `ItemView` and `MergedCartView`
// only describe that shape for the OpenAPI document (and its tests hold the writer to them).

/// A cart.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct CartView {
    /// The cart's id (stays through clears).
    #[schema(value_type = String, format = "uuid")]
    pub id: Uuid,
    /// The cart key as stored: a user id or a guest id.
    pub user_id: String,
    /// `user` or `guest`.
    #[schema(value_type = String, example = "guest")]
    pub owner: Owner,
    /// ISO 4217 code of every price in the cart.
    #[schema(value_type = String)]
    pub currency: Currency,
    /// Lines in the order they were first added.
    pub items: Vec<ItemView>,
    /// Number of lines.
    pub item_count: usize,
    /// Units over all lines.
    pub total_quantity: u64,
    /// Sum of line subtotals, minor units.
    pub total_price: i64,
    /// Goes up by one with every change; also the `ETag`.
    pub version: u64,
    /// RFC 3339.
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
    /// RFC 3339.
    #[schema(value_type = String)]
    pub updated_at: OffsetDateTime,
    /// RFC 3339; every change extends it.
    #[schema(value_type = String)]
    pub expires_at: OffsetDateTime,
    /// Where the cart ships to (ISO 3166), which picks tax and shipping; `null` until set with
    /// `PATCH /v1/cart/{cartKey}`.
    #[schema(schema_with = crate::formats::nullable_region)]
    pub region: Option<String>,
    /// The discount codes on the cart, upper case, in the order they were entered; whether each
    /// applies is in `/totals`.
    #[schema(schema_with = crate::formats::discount_codes)]
    pub discount_codes: Vec<String>,
    /// The order whose checkout locked the cart while it waits for payment; `null` otherwise.
    /// A locked cart refuses changes with `409 CART_LOCKED`.
    pub checkout: Option<CheckoutLockView>,
}

/// The checkout that locked a cart.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutLockView {
    /// The order.
    #[schema(value_type = String, format = "uuid")]
    pub order_id: Uuid,
    /// Its status: `pending_payment` while the lock holds.
    #[schema(example = "pending_payment")]
    pub status: String,
}

/// A cart as `GET /v1/cart/{cartKey}` answers it: a [`CartView`] and `warnings`, how its lines
/// compare with the catalog now (`PRICE_CHANGED`, `PRODUCT_UNAVAILABLE`). Its schema is the
/// `allOf` of the two, built by hand: the cart's JSON is written by `crate::cart_json` and the
/// warnings are spliced in by `crate::fresh`, so there is no one struct to derive it from.
pub struct CartReadView;

impl utoipa::PartialSchema for CartReadView {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AllOfBuilder, ArrayBuilder, ObjectBuilder, Ref, Type};
        let warnings = ArrayBuilder::new()
            .items(Ref::from_schema_name("WarningView"))
            .description(Some(
                "How the lines compare with the catalog now: PRICE_CHANGED, PRODUCT_UNAVAILABLE",
            ));
        let schema = AllOfBuilder::new()
            .item(Ref::from_schema_name("CartView"))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("warnings", warnings)
                    .required("warnings"),
            )
            .build();
        utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::AllOf(schema))
    }
}

impl ToSchema for CartReadView {}

/// A cart line.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ItemView {
    /// The line's id, for PATCH and DELETE.
    #[schema(value_type = String, format = "uuid")]
    pub item_id: Uuid,
    /// Catalog product id.
    pub product_id: String,
    /// Variant, if any.
    pub variant_id: Option<String>,
    /// Product name from the catalog.
    pub name: String,
    /// Units, 1..=max.
    pub quantity: u32,
    /// Catalog unit price, minor units.
    pub unit_price: i64,
    /// `quantity × unit_price`.
    pub subtotal: i64,
    /// RFC 3339.
    #[schema(value_type = String)]
    pub added_at: OffsetDateTime,
    /// RFC 3339.
    #[schema(value_type = String)]
    pub updated_at: OffsetDateTime,
}

/// `POST /v1/cart/{cartKey}/items`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItemRequest {
    /// 1–64 characters of `[A-Za-z0-9._:-]`.
    #[schema(schema_with = crate::formats::product_id)]
    pub product_id: String,
    /// A positive integer; the line's total may not exceed the line maximum.
    #[schema(value_type = i64, minimum = 1, maximum = 99)]
    pub quantity: serde_json::Value,
    /// Optional variant (size, colour …): 1–64 characters of `[A-Za-z0-9._:-]`.
    #[serde(default)]
    #[schema(schema_with = crate::formats::variant_id)]
    pub variant_id: Option<String>,
    /// The price the shopper saw, minor units; refused with `PRICE_CHANGED` if the catalog
    /// price differs. Never used as the price.
    #[serde(default, deserialize_with = "crate::integers::optional")]
    #[schema(minimum = 0)]
    pub unit_price: Option<i64>,
}

/// `PATCH /v1/cart/{cartKey}/items/{itemID}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateItemRequest {
    /// The new quantity, 1..=max.
    #[schema(value_type = i64, minimum = 1, maximum = 99)]
    pub quantity: serde_json::Value,
    /// The cart version the client last saw; mismatch → `409 CONFLICT`.
    #[serde(default, deserialize_with = "crate::integers::optional")]
    pub version: Option<u64>,
}

/// `PATCH /v1/cart/{cartKey}`: the cart as a whole.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CartPatchRequest {
    /// Where the cart ships to: picks its tax rates and shipping rate.
    #[schema(schema_with = crate::formats::region)]
    pub region: String,
}

/// `POST /v1/cart/{cartKey}/discount-codes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountCodeRequest {
    /// The code, in any case (`save10` is `SAVE10`).
    #[schema(schema_with = crate::formats::discount_code)]
    pub code: String,
}

/// A catalog product.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    /// Catalog id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Minor units.
    pub unit_price: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Inactive products cannot be added.
    pub active: bool,
    /// Units on hand where tracked (lowered when an order is paid); `null` when not tracked.
    pub stock: Option<u32>,
    /// Units held by checkouts waiting for payment; adds and checkouts may take
    /// `stock - reserved`. `null` when stock is not tracked.
    pub reserved: Option<u32>,
    /// Which of a region's tax rates applies: `standard` unless set.
    #[schema(example = "standard")]
    pub tax_class: String,
}

impl ProductView {
    /// The view with the product's stock level (on hand and reserved) as checkouts counted it.
    pub fn with_level(mut self, level: Option<cart_core::order::StockLevel>) -> Self {
        if let Some(level) = level {
            self.stock = Some(level.on_hand);
            self.reserved = Some(level.reserved);
        }
        self
    }
}

impl From<&Product> for ProductView {
    fn from(product: &Product) -> Self {
        Self {
            id: product.id.as_str().to_owned(),
            name: product.name.to_string(),
            unit_price: product.price.amount(),
            currency: product.price.currency().to_string(),
            active: product.active,
            stock: product.stock,
            reserved: product.stock.map(|_| 0),
            tax_class: product.tax_class.to_string(),
        }
    }
}

/// A page of products.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    /// Products ordered by id.
    pub items: Vec<ProductView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `PUT /v1/products/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutProductRequest {
    /// Display name, 1–200 characters.
    #[schema(schema_with = crate::formats::product_name)]
    pub name: String,
    /// Minor units, 0..=1,000,000,000.
    #[serde(deserialize_with = "crate::integers::integer")]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub unit_price: i64,
    /// ISO 4217 code.
    #[schema(schema_with = crate::formats::currency)]
    pub currency: String,
    /// Defaults to true.
    #[serde(default)]
    pub active: Option<bool>,
    /// Units in stock; omit or null when not tracked.
    #[serde(default, deserialize_with = "crate::integers::optional")]
    #[schema(minimum = 0, maximum = 4_294_967_295_i64)]
    pub stock: Option<i64>,
    /// Which of a region's tax rates applies (`standard`, `reduced`, `zero` or any name a rate
    /// table uses); omit or null for `standard`.
    #[serde(default)]
    #[schema(schema_with = crate::formats::tax_class)]
    pub tax_class: Option<String>,
}

/// `POST /v1/guests`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GuestView {
    /// A new guest id to use as the cart key.
    #[schema(schema_with = crate::formats::guest_id)]
    pub guest_id: String,
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// Always `ok` while the process runs.
    pub status: String,
}

/// One readiness check.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    /// `ok` or `error`.
    pub status: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How long the check took, e.g. `1.2ms`.
    pub latency: String,
}

/// `GET /ready`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyView {
    /// `ready` or `not ready`.
    pub status: String,
    /// RFC 3339.
    pub timestamp: String,
    /// Per dependency.
    pub checks: std::collections::BTreeMap<String, CheckView>,
}

/// `POST /v1/cart/{cartKey}/merge`: the guest cart to merge and how.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeCartRequest {
    /// The guest id whose cart is merged (and then deleted).
    #[schema(schema_with = crate::formats::guest_id)]
    pub guest_id: String,
    /// `max` (default), `sum`, `replace` or `keep`.
    #[serde(default)]
    #[schema(schema_with = crate::formats::merge_strategy)]
    pub strategy: Option<MergeStrategy>,
}

/// A cart after a merge (or as it would be, for a dry run), with the merge report.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct MergedCartView {
    /// The user cart.
    #[serde(flatten)]
    pub cart: CartView,
    /// What happened to every line.
    pub merge: MergeReportView,
}

/// The `merge` member of a merge response.
#[derive(Debug, Serialize, ToSchema)]
pub struct MergeReportView {
    /// The strategy applied.
    #[schema(value_type = String, example = "max")]
    pub strategy: MergeStrategy,
    /// The guest whose cart was merged.
    pub guest_id: String,
    /// Whether a live guest cart was found; `false`: nothing was merged.
    pub guest_cart_found: bool,
    /// `true` when nothing was changed (`?dry_run=true`).
    pub dry_run: bool,
    /// Every line added, combined, capped or dropped, and why.
    pub lines: Vec<MergeLineView>,
}

/// One line of the merge report.
#[derive(Debug, Serialize, ToSchema)]
pub struct MergeLineView {
    /// The product.
    pub product_id: String,
    /// The variant, if any.
    pub variant_id: Option<String>,
    /// `guest`, `user` or `both`: where the line was before.
    #[schema(value_type = String, example = "both")]
    pub source: LineSource,
    /// `added`, `combined`, `capped` or `dropped`.
    #[schema(value_type = String, example = "combined")]
    pub outcome: LineOutcome,
    /// `only_in_guest_cart`, `larger_quantity`, `quantities_added`, `line_limit`,
    /// `cart_limit`, `replaced_by_guest_cart` or `kept_user_cart`.
    #[schema(value_type = String, example = "larger_quantity")]
    pub reason: OutcomeReason,
    /// Units in the guest cart.
    pub guest_quantity: u32,
    /// Units in the user cart before the merge.
    pub user_quantity: u32,
    /// Units in the merged cart (0 when dropped).
    pub quantity: u32,
}

impl MergeReportView {
    /// The report as shown, marked as a dry run or not.
    pub fn new(report: &MergeReport, dry_run: bool) -> Self {
        Self {
            strategy: report.strategy,
            guest_id: report.guest_id.as_str().to_owned(),
            guest_cart_found: report.guest_cart_found,
            dry_run,
            lines: report.lines.iter().map(MergeLineView::from).collect(),
        }
    }
}

impl From<&MergeLine> for MergeLineView {
    fn from(line: &MergeLine) -> Self {
        Self {
            product_id: line.product_id.as_str().to_owned(),
            variant_id: line.variant_id.as_ref().map(|v| v.as_str().to_owned()),
            source: line.source,
            outcome: line.outcome,
            reason: line.reason,
            guest_quantity: line.guest_quantity,
            user_quantity: line.user_quantity,
            quantity: line.quantity,
        }
    }
}
