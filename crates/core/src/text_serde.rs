//! Serde for the domain's text-backed values (ids, currency codes): written straight from
//! `as_str()` and read through `parse`, so a value is validated whenever it is read and never
//! copied into a temporary `String` on the way in or out.
//!
//! serde's `try_from = "String", into = "String"` attributes did the same with a clone of the
//! text for every value written and a second copy for every value read; a cart write serializes
//! its key, currency and every line's product id, so those copies were a share of each add.

/// Implements `Serialize` (as `as_str()`) and `Deserialize` (through `parse`, whose error's
/// text becomes the serde error) for each type named. Exported for the other cartd crates'
/// text-backed values (regions, discount codes); the caller needs `serde` as a dependency.
#[macro_export]
macro_rules! text_serde {
    ($($ty:ident),*) => {$(
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Text;
                impl serde::de::Visitor<'_> for Text {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        write!(f, "a {} as a string", stringify!($ty))
                    }
                    fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<$ty, E> {
                        $ty::parse(raw).map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(Text)
            }
        }
    )*};
}
