//! A transport's input, checked once and turned into the core's commands. REST and GraphQL
//! call the same checks in the same order, so one request sent both ways is refused with the
//! same code; each names the argument at fault its own way ([`Spelling`]).

use serde_json::{Value, json};
use uuid::Uuid;

use cart_core::{
    AddItem, GuestId, MergeRequest, MergeStrategy, ProductId, PromotionCode, Region, RemoveItem,
    SetQuantity, VariantId,
};

use crate::extract::requested_quantity;
use crate::problem::{ApiError, Code};

/// How a transport spells the arguments a check may blame.
#[derive(Debug, Clone, Copy)]
pub struct Spelling {
    /// The product id.
    pub product_id: &'static str,
    /// The variant id.
    pub variant_id: &'static str,
    /// The asserted unit price.
    pub unit_price: &'static str,
    /// The line's id.
    pub item_id: &'static str,
    /// The merged guest's id.
    pub guest_id: &'static str,
}

/// REST's names: JSON members in snake_case, `itemID` in the path.
pub const REST: Spelling = Spelling {
    product_id: "product_id",
    variant_id: "variant_id",
    unit_price: "unit_price",
    item_id: "itemID",
    guest_id: "guest_id",
};

/// GraphQL's names: arguments in camelCase.
pub const GRAPHQL: Spelling = Spelling {
    product_id: "productId",
    variant_id: "variantId",
    unit_price: "unitPrice",
    item_id: "itemId",
    guest_id: "guestId",
};

/// An argument refused: the problem, and the argument it blames as the transport spells it.
#[derive(Debug)]
pub struct Refused {
    /// The problem to answer.
    pub error: ApiError,
    /// The argument at fault.
    pub argument: &'static str,
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        refused.error
    }
}

fn refused(error: ApiError, argument: &'static str) -> Refused {
    Refused { error, argument }
}

/// An add: product, variant, quantity and the asserted price, checked in that order.
pub fn add_item(
    names: &Spelling,
    product_id: &str,
    variant_id: Option<&str>,
    quantity: &Value,
    unit_price: Option<i64>,
) -> Result<AddItem, Refused> {
    let product_id = ProductId::parse(product_id).map_err(|e| {
        let error = ApiError::new(Code::ValidationError, e.to_string())
            .with_details(json!({"field": names.product_id}));
        refused(error, names.product_id)
    })?;
    let variant_id = variant_id.map(VariantId::parse).transpose().map_err(|e| {
        let error = ApiError::new(Code::ValidationError, e.to_string())
            .with_details(json!({"field": names.variant_id}));
        refused(error, names.variant_id)
    })?;
    let quantity = requested_quantity(quantity).map_err(|e| refused(e, "quantity"))?;
    if unit_price.is_some_and(|price| price < 0) {
        let message = format!(
            "{} must be a non-negative integer of minor units",
            names.unit_price
        );
        return Err(refused(
            ApiError::new(Code::ValidationError, message),
            names.unit_price,
        ));
    }
    Ok(AddItem {
        product_id,
        variant_id,
        quantity,
        asserted_unit_price: unit_price,
    })
}

/// A line's id: a UUID in the hyphenated form the API shows it in (either case), as
/// `crate::formats::ITEM_ID_PATTERN` documents; the other forms `Uuid::parse_str` knows (bare
/// hex, braces, `urn:uuid:`) are refused, so the document and the server agree.
pub fn item_id(names: &Spelling, raw: &str) -> Result<Uuid, Refused> {
    let hyphenated = raw.len() == crate::formats::ITEM_ID_LENGTH;
    hyphenated
        .then(|| Uuid::parse_str(raw).ok())
        .flatten()
        .ok_or_else(|| {
            let error = ApiError::new(
                Code::ValidationError,
                format!(
                    "{} must be a UUID: 8-4-4-4-12 hex digits and hyphens",
                    names.item_id
                ),
            )
            .with_details(json!({"item_id": raw}));
            refused(error, names.item_id)
        })
}

/// A quantity change of the line `item`.
pub fn set_quantity(
    names: &Spelling,
    item: &str,
    quantity: &Value,
) -> Result<SetQuantity, Refused> {
    let item_id = item_id(names, item)?;
    let quantity = requested_quantity(quantity).map_err(|e| refused(e, "quantity"))?;
    Ok(SetQuantity { item_id, quantity })
}

/// A removal of the line `item`.
pub fn remove_item(names: &Spelling, item: &str) -> Result<RemoveItem, Refused> {
    Ok(RemoveItem {
        item_id: item_id(names, item)?,
    })
}

/// A merge of the guest `guest`'s cart.
pub fn merge(
    names: &Spelling,
    guest: &str,
    strategy: Option<MergeStrategy>,
    dry_run: bool,
) -> Result<MergeRequest, Refused> {
    let guest_id = GuestId::parse(guest).map_err(|e| {
        let error = ApiError::new(Code::InvalidGuestId, format!("{}: {e}", names.guest_id))
            .with_details(json!({"guest_id": guest}));
        refused(error, names.guest_id)
    })?;
    Ok(MergeRequest {
        guest: guest_id,
        strategy: strategy.unwrap_or_default(),
        dry_run,
    })
}

/// A region: `CC` or `CC-SUB`, an ISO 3166-1 country.
pub fn region(argument: &'static str, raw: &str) -> Result<Region, Refused> {
    Region::parse(raw).map_err(|e| {
        let error = ApiError::new(Code::ValidationError, e.to_string())
            .with_details(json!({"field": argument}));
        refused(error, argument)
    })
}

/// A discount code, in any case.
pub fn discount_code(argument: &'static str, raw: &str) -> Result<PromotionCode, Refused> {
    PromotionCode::parse(raw).map_err(|e| {
        let error = ApiError::new(Code::ValidationError, e.to_string())
            .with_details(json!({"field": argument}));
        refused(error, argument)
    })
}
