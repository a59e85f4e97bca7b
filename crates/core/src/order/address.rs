//! What a shopper gives at checkout besides the cart: email, addresses, installments. Checked
//! here once, so REST and GraphQL refuse the same input with the same field and reason.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::MAX_INSTALLMENTS;

/// Which field of the checkout input is wrong, and why (`400 VALIDATION_ERROR`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct OrderInputError {
    /// The field's path, e.g. `shipping_address.country`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

fn bad(field: &str, reason: &str) -> OrderInputError {
    OrderInputError {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Recipient.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// More of the street address.
    #[serde(default)]
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// State, province or county, where the country has them.
    #[serde(default)]
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2 country code, upper case.
    pub country: String,
}

/// Longest text an address field takes, in characters.
pub const MAX_ADDRESS_FIELD: usize = 200;

/// A required text: 1 to `max` characters, not only white space, no control characters.
fn text(field: &str, value: &str, max: usize) -> Result<(), OrderInputError> {
    if value.trim().is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    optional_text(field, value, max)
}

fn optional_text(field: &str, value: &str, max: usize) -> Result<(), OrderInputError> {
    if value.chars().count() > max {
        return Err(bad(field, &format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(bad(field, "must not contain control characters"));
    }
    Ok(())
}

impl Address {
    /// Checks every field; `path` names the address in errors (`shipping_address`).
    pub fn check(&self, path: &str) -> Result<(), OrderInputError> {
        let field = |name: &str| format!("{path}.{name}");
        text(&field("name"), &self.name, MAX_ADDRESS_FIELD)?;
        text(&field("line1"), &self.line1, MAX_ADDRESS_FIELD)?;
        if let Some(line2) = &self.line2 {
            optional_text(&field("line2"), line2, MAX_ADDRESS_FIELD)?;
        }
        text(&field("city"), &self.city, MAX_ADDRESS_FIELD)?;
        text(&field("postal_code"), &self.postal_code, 20)?;
        if let Some(state) = &self.state {
            optional_text(&field("state"), state, MAX_ADDRESS_FIELD)?;
        }
        let country = self.country.as_bytes();
        if country.len() != 2 || !country.iter().all(u8::is_ascii_uppercase) {
            return Err(bad(
                &field("country"),
                "must be an ISO 3166-1 alpha-2 code in upper case",
            ));
        }
        Ok(())
    }
}

/// Checks the shape of an email address: one `@` between a local part and a domain with a dot,
/// at most 254 characters, no white space or control characters. Whether it receives mail only
/// sending to it can tell, so nothing more is checked.
pub fn check_email(email: &str) -> Result<(), OrderInputError> {
    let shaped = email.chars().count() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.'));
    if shaped {
        Ok(())
    } else {
        Err(bad("email", "must be an email address"))
    }
}

/// Everything checkout takes besides the cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutDetails {
    /// The quote token of the totals the shopper agreed to.
    pub quote_token: String,
    /// Where the confirmation goes.
    pub email: String,
    /// Where it ships to.
    pub shipping_address: Address,
    /// Who pays, where.
    pub billing_address: Address,
    /// Installments, 1 to [`MAX_INSTALLMENTS`].
    pub number_of_installments: u8,
}

impl CheckoutDetails {
    /// Checks every field.
    pub fn check(&self) -> Result<(), OrderInputError> {
        if self.quote_token.is_empty() || self.quote_token.chars().count() > 128 {
            return Err(bad(
                "quote_token",
                "must be a quote token from the cart's totals",
            ));
        }
        check_email(&self.email)?;
        self.shipping_address.check("shipping_address")?;
        self.billing_address.check("billing_address")?;
        if !(1..=MAX_INSTALLMENTS).contains(&self.number_of_installments) {
            return Err(bad(
                "number_of_installments",
                &format!("must be from 1 to {MAX_INSTALLMENTS}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> Address {
        Address {
            name: "Zoë Ünïcödé".into(),
            line1: "1 Rue de la Paix".into(),
            line2: None,
            city: "Paris".into(),
            postal_code: "75002".into(),
            state: None,
            country: "FR".into(),
        }
    }

    #[test]
    fn a_plain_address_passes_and_each_bad_field_is_named() {
        assert_eq!(address().check("shipping_address"), Ok(()));
        let cases = [
            (
                Address {
                    name: "  ".into(),
                    ..address()
                },
                "shipping_address.name",
            ),
            (
                Address {
                    line1: "a\u{0}b".into(),
                    ..address()
                },
                "shipping_address.line1",
            ),
            (
                Address {
                    city: "x".repeat(201),
                    ..address()
                },
                "shipping_address.city",
            ),
            (
                Address {
                    country: "fr".into(),
                    ..address()
                },
                "shipping_address.country",
            ),
            (
                Address {
                    country: "FRA".into(),
                    ..address()
                },
                "shipping_address.country",
            ),
            (
                Address {
                    postal_code: "1".repeat(21),
                    ..address()
                },
                "shipping_address.postal_code",
            ),
        ];
        for (input, field) in cases {
            assert_eq!(
                input.check("shipping_address").map_err(|e| e.field),
                Err(field.to_owned())
            );
        }
    }

    #[test]
    fn emails_are_checked_for_their_shape_only() {
        for good in ["a@b.co", "zoë+cart@exämple.fr"] {
            assert_eq!(check_email(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@b.co",
            "a@@b.co",
            "a b@c.de",
            "a@.co",
            "a@b.co.",
            &format!("{}@b.co", "a".repeat(260)),
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn installments_must_be_from_one_to_the_maximum() {
        let details = |n| CheckoutDetails {
            quote_token: "q1.x".into(),
            email: "a@b.co".into(),
            shipping_address: address(),
            billing_address: address(),
            number_of_installments: n,
        };
        assert_eq!(details(1).check(), Ok(()));
        assert_eq!(details(MAX_INSTALLMENTS).check(), Ok(()));
        assert!(details(0).check().is_err());
        assert!(details(MAX_INSTALLMENTS + 1).check().is_err());
    }
}
