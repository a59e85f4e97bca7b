//! A secret the server can be given again while it runs: `SIGHUP` makes `cartd serve` read its
//! secrets again (from the environment's file or AWS Secrets Manager), so a rotated secret takes
//! effect without a restart.

use std::sync::RwLock;

use secrecy::SecretString;

/// A secret, or none, replaceable at any time; readers get the current one.
#[derive(Debug, Default)]
pub struct RotatingSecret(RwLock<Option<SecretString>>);

impl RotatingSecret {
    /// Holds `secret`.
    pub fn new(secret: Option<SecretString>) -> Self {
        Self(RwLock::new(secret))
    }

    /// The secret now.
    pub fn get(&self) -> Option<SecretString> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the secret; requests after this see the new one.
    pub fn set(&self, secret: Option<SecretString>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = secret;
    }
}
