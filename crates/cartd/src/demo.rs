//! The demo catalog: 120 bookstore products (40 classics in paperback, hardcover and ebook;
//! hardcovers track stock; a few are out of print), loaded into an empty catalog at first start
//! so a new install is useful at once.

use cart_core::{Product, ProductInput};

/// The demo catalog as shipped.
const DEMO_CATALOG: &str = include_str!("demo_catalog.json");

/// The demo products, parsed.
pub fn products() -> anyhow::Result<Vec<Product>> {
    let rows: Vec<ProductInput> = serde_json::from_str(DEMO_CATALOG)?;
    rows.into_iter()
        .map(|row| row.parse().map_err(anyhow::Error::from))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_catalog_is_valid_and_large_enough() {
        let products = super::products().expect("demo catalog parses");
        assert!(products.len() >= 100);
        assert!(products.iter().any(|p| !p.active));
        assert!(products.iter().any(|p| p.stock.is_some()));
    }
}
