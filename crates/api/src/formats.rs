//! The strings the API takes — cart keys, guest, product and item ids, `If-Match`,
//! `Idempotency-Key` — as JSON Schema for the OpenAPI document, so that a generated client
//! checks what the server checks.
//!
//! Each pattern matches exactly what the server's parser accepts (`cart_core::ids`,
//! [`crate::auth::Caller::cart_key`], [`crate::commands::item_id`], [`crate::extract`]), no
//! more and no less; `tests/api/contract.rs` holds the served document's schemas to those
//! parsers. Patterns are ECMA-262, as JSON Schema asks, and use no look-around, so the
//! regular-expression engines of most languages (Go's, Rust's) take them too.

use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaFormat, SchemaType, Type};

/// A guest id: `guest_` and a ULID in upper-case Crockford base32 (whose first character
/// encodes 3 bits, so is at most `7`).
pub const GUEST_ID_PATTERN: &str = "^guest_[0-7][0-9A-HJKMNP-TV-Z]{25}$";

/// A guest id's length.
pub const GUEST_ID_LENGTH: usize = 32;

/// A `{cartKey}`: a guest id, or a user id (1–128 characters of `[A-Za-z0-9._@:|-]` that do
/// not start with `guest_`; `me` is one). "Not starting with `guest_`" is spelled out
/// without look-ahead: a first character other than `g`, or `g`, `gu` … `guest` followed by
/// anything but the next letter of `guest_`.
pub const CART_KEY_PATTERN: &str = concat!(
    "^(?:guest_[0-7][0-9A-HJKMNP-TV-Z]{25}",
    "|[A-Za-fh-z0-9._@:|-][A-Za-z0-9._@:|-]{0,127}",
    "|g(?:[A-Za-tv-z0-9._@:|-][A-Za-z0-9._@:|-]{0,126})?",
    "|gu(?:[A-Za-df-z0-9._@:|-][A-Za-z0-9._@:|-]{0,125})?",
    "|gue(?:[A-Za-rt-z0-9._@:|-][A-Za-z0-9._@:|-]{0,124})?",
    "|gues(?:[A-Za-su-z0-9._@:|-][A-Za-z0-9._@:|-]{0,123})?",
    "|guest(?:[A-Za-z0-9.@:|-][A-Za-z0-9._@:|-]{0,122})?",
    ")$"
);

/// The longest cart key (a user id's limit; a guest id is shorter).
pub const CART_KEY_MAX_LENGTH: usize = 128;

/// A product or variant id: 1–64 characters of `[A-Za-z0-9._:-]`.
pub const CATALOG_ID_PATTERN: &str = "^[A-Za-z0-9._:-]{1,64}$";

/// The longest product or variant id.
pub const CATALOG_ID_MAX_LENGTH: usize = 64;

/// A line's `item_id`: a UUID in its hyphenated form, either case.
pub const ITEM_ID_PATTERN: &str =
    "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$";

/// The length of a hyphenated UUID.
pub const ITEM_ID_LENGTH: usize = 36;

/// `If-Match`: `*`, or a comma-separated list of entity tags holding a version, strong
/// (`"3"`) or weak (`W/"3"`, which never matches: `412`).
pub const IF_MATCH_PATTERN: &str =
    r#"^[ \t]*(?:\*|(?:W/)?"[0-9]+"(?:[ \t]*,[ \t]*(?:W/)?"[0-9]+")*)[ \t]*$"#;

/// `Idempotency-Key`: 1–255 printable ASCII characters.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[ -~]{1,255}$";

/// The longest idempotency key.
pub const IDEMPOTENCY_KEY_MAX_LENGTH: usize = 255;

/// A product name (`cart_core::product::product_name`): no control character (Unicode `Cc`:
/// U+0000–U+001F, U+007F–U+009F) and at least one character that is not white space.
pub const PRODUCT_NAME_PATTERN: &str = concat!(
    r"^[^\u0000-\u001f\u007f-\u009f]*",
    r"[^\s\u0000-\u001f\u007f-\u009f]",
    r"[^\u0000-\u001f\u007f-\u009f]*$"
);

/// The longest product name, in characters.
pub const PRODUCT_NAME_MAX_LENGTH: usize = 200;

/// A tax class (`cart_core::TaxClass`): a lower-case letter, then up to 31 lower-case letters,
/// digits, `_` or `-`.
pub const TAX_CLASS_PATTERN: &str = "^[a-z][a-z0-9_-]{0,31}$";

fn string(pattern: &str, min: usize, max: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .min_length(Some(min))
        .max_length(Some(max))
}

/// The schema of a `{cartKey}`.
pub fn cart_key() -> Object {
    string(CART_KEY_PATTERN, 1, CART_KEY_MAX_LENGTH)
        .description(Some(
            "`me` (the caller's own cart; a token is required), a guest id, or a user id",
        ))
        .examples([serde_json::json!("me"), serde_json::json!(EXAMPLE_GUEST_ID)])
        .build()
}

/// The schema of a guest id.
pub fn guest_id() -> Object {
    string(GUEST_ID_PATTERN, GUEST_ID_LENGTH, GUEST_ID_LENGTH)
        .description(Some("`guest_` and a ULID"))
        .examples([serde_json::json!(EXAMPLE_GUEST_ID)])
        .build()
}

/// The schema of a product id.
pub fn product_id() -> Object {
    string(CATALOG_ID_PATTERN, 1, CATALOG_ID_MAX_LENGTH)
        .description(Some("A catalog product id"))
        .examples([serde_json::json!("book-001-pb")])
        .build()
}

/// The schema of a variant id, which may be absent (`null`).
pub fn variant_id() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(CATALOG_ID_PATTERN))
        .min_length(Some(1))
        .max_length(Some(CATALOG_ID_MAX_LENGTH))
        .description(Some("The product's variant (size, colour …), if any"))
        .build()
}

/// The schema of a line's `item_id`.
pub fn item_id() -> Object {
    string(ITEM_ID_PATTERN, ITEM_ID_LENGTH, ITEM_ID_LENGTH)
        .format(Some(SchemaFormat::Custom("uuid".into())))
        .description(Some("The line's item_id"))
        .build()
}

/// The schema of `If-Match`.
pub fn if_match() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(IF_MATCH_PATTERN))
        .min_length(Some(1))
        .description(Some(
            "Only if the cart is at this version: `\"3\"` (the ETag), a list of tags, or `*` \
             (any cart); a weak tag never matches (`412`)",
        ))
        .examples([serde_json::json!("\"3\"")])
        .build()
}

/// The schema of `Idempotency-Key`.
pub fn idempotency_key() -> Object {
    string(IDEMPOTENCY_KEY_PATTERN, 1, IDEMPOTENCY_KEY_MAX_LENGTH)
        .description(Some(
            "Makes retries safe: the same command under the same key is answered once",
        ))
        .build()
}

/// The schema of a product name.
pub fn product_name() -> Object {
    string(PRODUCT_NAME_PATTERN, 1, PRODUCT_NAME_MAX_LENGTH)
        .description(Some(
            "Display name: 1–200 characters, no control characters, not only spaces (kept trimmed)",
        ))
        .build()
}

/// The schema of a product's tax class, which may be absent (`null`, meaning `standard`).
pub fn tax_class() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(TAX_CLASS_PATTERN))
        .min_length(Some(1))
        .max_length(Some(32))
        .description(Some(
            "Which of a region's tax rates applies: `standard` (the default), `reduced`, `zero`, \
             or any name a rate table uses",
        ))
        .examples([serde_json::json!("reduced")])
        .build()
}

/// A percentage as a decimal string (`cart_pricing::Percent`): 0 to 100 with up to 4 decimals,
/// the whole part 1–3 digits (`"007"` is 7).
pub const PERCENT_PATTERN: &str =
    r"^(?:(?:0{0,2}[0-9]|0?[1-9][0-9])(?:\.[0-9]{1,4})?|100(?:\.0{1,4})?)$";

/// The schema of a promotion definition: `oneOf` a percentage code and a fixed code, each
/// with the conditions both share. What JSON Schema cannot say across fields (`ends_at` after
/// `starts_at`, a percent above zero) is said in the descriptions and refused with `400`.
pub fn promotion_request() -> utoipa::openapi::schema::OneOf {
    use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder};
    let type_is = |name: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([name.to_owned()]))
    };
    let integer = |min: i64, max: i64, description: &str| {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
            .minimum(Some(min))
            .maximum(Some(max))
            .description(Some(description))
    };
    let time = |description: &str| {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .format(Some(SchemaFormat::KnownFormat(
                utoipa::openapi::schema::KnownFormat::DateTime,
            )))
            .description(Some(description))
    };
    let conditions = |object: ObjectBuilder| {
        object
            .property(
                "min_subtotal",
                integer(
                    0,
                    i64::MAX / 2,
                    "Minor units the subtotal (before discounts) must reach",
                ),
            )
            .property(
                "product_ids",
                ArrayBuilder::new()
                    .items(product_id())
                    .max_items(Some(cart_pricing::promotion::MAX_SCOPED_PRODUCTS))
                    .description(Some(
                        "Products the code is limited to; empty for every product",
                    )),
            )
            .property(
                "starts_at",
                time("RFC 3339; before it the code does not apply"),
            )
            .property(
                "ends_at",
                time("RFC 3339, after starts_at; from it the code does not apply"),
            )
            .property(
                "usage_limit",
                integer(
                    1,
                    i64::MAX / 2,
                    "Orders that may use the code (counted at checkout)",
                ),
            )
            .property(
                "stackable",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some("Combines with other stackable codes (default false)")),
            )
            .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::<
                utoipa::openapi::Schema,
            >::FreeForm(false)))
    };
    let percentage = conditions(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("type", type_is("percentage"))
            .property(
                "percent",
                string(POSITIVE_PERCENT_PATTERN, 1, 9)
                    .description(Some("More than 0 and at most 100, as a decimal string")),
            )
            .required("type")
            .required("percent"),
    );
    let fixed = conditions(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("type", type_is("fixed"))
            .property(
                "amount",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(cart_core::money::MAX_UNIT_PRICE))
                    .description(Some("Minor units off")),
            )
            .property("currency", currency())
            .required("type")
            .required("amount")
            .required("currency"),
    );
    OneOfBuilder::new()
        .item(percentage.build())
        .item(fixed.build())
        .description(Some(
            "A percentage off, or a fixed amount off, with conditions",
        ))
        .build()
}

/// A percentage above zero ([`PERCENT_PATTERN`] without the zeros: `"0"`, `"00.000"` …), as a
/// percentage code's `percent` must be. Spelled without lookaheads, which not every JSON Schema
/// tool supports: a whole part of 1–100, or a zero whole part and a fraction with a non-zero
/// digit.
pub const POSITIVE_PERCENT_PATTERN: &str = r"^(?:(?:0{0,2}[1-9]|0?[1-9][0-9])(?:\.[0-9]{1,4})?|0{1,3}\.(?:[1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9])|100(?:\.0{1,4})?)$";

/// The schema of a tax table's `rates`: tax class → percentage.
pub fn tax_rates() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(TAX_CLASS_PATTERN)),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(PERCENT_PATTERN))
                .description(Some("A percentage as a decimal string: \"20\", \"5.5\"")),
        ))
        .max_properties(Some(crate::routes::pricing::MAX_TAX_CLASSES))
        .description(Some(
            "Rate by tax class (`standard`, `reduced` …), percentages as decimal strings",
        ))
        .examples([serde_json::json!({"standard": "20", "reduced": "5.5"})])
        .build()
}

/// The schema of a region: an ISO 3166-1 alpha-2 country the server knows, optionally with an
/// ISO 3166-2 subdivision (`FR`, `US-CA`).
pub fn region() -> Object {
    region_builder().build()
}

/// A region, or `null` for none (a cart's region before the shopper sets one).
pub fn nullable_region() -> Object {
    region_builder()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .build()
}

fn region_builder() -> ObjectBuilder {
    let countries: Vec<&str> = cart_pricing::country_codes().collect();
    let pattern = format!("^(?:{})(?:-[A-Z0-9]{{1,3}})?$", countries.join("|"));
    string(&pattern, 2, 6)
        .description(Some(
            "ISO 3166-1 alpha-2 country, optionally with an ISO 3166-2 subdivision",
        ))
        .examples([serde_json::json!("FR"), serde_json::json!("US-CA")])
}

/// What a discount code may be sent as (`cart_core::PromotionCode`): any case, shown upper case.
pub const DISCOUNT_CODE_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$";

/// The schema of a discount code as sent (any case).
pub fn discount_code() -> Object {
    string(DISCOUNT_CODE_PATTERN, 1, 32)
        .description(Some(
            "1-32 letters, digits, '_' or '-', starting with a letter or digit; case-insensitive",
        ))
        .examples([serde_json::json!("SAVE10")])
        .build()
}

/// The schema of discount codes as sent (any case), at most [`cart_core::MAX_DISCOUNT_CODES`].
pub fn discount_codes_sent() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(discount_code())
        .max_items(Some(cart_core::MAX_DISCOUNT_CODES))
        .build()
}

/// The schema of a cart's discount codes as shown: upper case, at most
/// [`cart_core::MAX_DISCOUNT_CODES`].
pub fn discount_codes() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(string("^[A-Z0-9][A-Z0-9_-]{0,31}$", 1, 32))
        .max_items(Some(cart_core::MAX_DISCOUNT_CODES))
        .unique_items(true)
        .build()
}

/// The schema of a currency: one of the ISO 4217 codes the server knows.
pub fn currency() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(cart_core::money::currency_codes()))
        .description(Some("ISO 4217 code, upper case"))
        .examples([serde_json::json!("USD")])
        .build()
}

/// The schema of a merge strategy, which may be absent (`null`, meaning `max`).
pub fn merge_strategy() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(
            cart_core::MergeStrategy::ALL
                .map(|strategy| Some(strategy.as_str()))
                .into_iter()
                .chain([None]),
        ))
        .description(Some("`max` (default), `sum`, `replace` or `keep`"))
        .examples([serde_json::json!("max")])
        .build()
}

/// A parameter in `place` whose value has `schema`; path parameters are required, the rest
/// optional.
pub fn parameter(name: &str, place: ParameterIn, description: &str, schema: Object) -> Parameter {
    let required = match place {
        ParameterIn::Path => Required::True,
        _ => Required::False,
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(place)
        .required(required)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// The guest id the examples show.
const EXAMPLE_GUEST_ID: &str = "guest_01JD3XK4B5C6D7E8F9G0H1J2K3";
