//! cart-devidp: a development identity provider for cartd. Asymmetric signing keys in PKCS#8
//! PEM files, tokens signed with them, and the JWKS that publishes their public halves; and
//! tokens signed with the HS256 development secret. `cartd token`, `cartd jwks keygen` and
//! `cartd jwks serve` use it, and so do the tests, so the whole RS256 / ES256 / EdDSA path runs
//! end to end without any outside service.
//!
//! It is a crate of its own so that the production library, `cart-api`, only ever verifies
//! tokens (`cart_api::identity`) and carries no code that makes keys or signs tokens; `cart-api`
//! uses this crate in its tests only.
//!
//! Key generation uses aws-lc-rs (already the crypto of `jsonwebtoken` here); the public JWK and
//! its RFC 7638 thumbprint (the `kid`) come from `jsonwebtoken` itself.

use std::str::FromStr;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use thiserror::Error;

/// The shortest HS256 secret signed with, in bytes (RFC 7518 §3.2: at least the hash size). The
/// same rule as `cart_api::identity::MIN_SECRET_BYTES`, which the server enforces; this crate
/// cannot name that constant (`cart-api` depends on it for its tests), and a test in `cart-api`
/// holds the two equal.
pub const MIN_SECRET_BYTES: usize = 32;

/// The asymmetric algorithms the development provider signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA 2048, RS256.
    Rs256,
    /// ECDSA P-256, ES256.
    Es256,
    /// ECDSA P-384, ES384.
    Es384,
    /// Ed25519, EdDSA.
    EdDsa,
}

impl KeyKind {
    /// The JWS algorithm of keys of this kind.
    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::Rs256 => Algorithm::RS256,
            Self::Es256 => Algorithm::ES256,
            Self::Es384 => Algorithm::ES384,
            Self::EdDsa => Algorithm::EdDSA,
        }
    }
}

impl FromStr for KeyKind {
    type Err = DevKeyError;

    fn from_str(raw: &str) -> Result<Self, DevKeyError> {
        match raw.to_ascii_lowercase().as_str() {
            "rs256" => Ok(Self::Rs256),
            "es256" => Ok(Self::Es256),
            "es384" => Ok(Self::Es384),
            "eddsa" | "ed25519" => Ok(Self::EdDsa),
            _ => Err(DevKeyError::UnknownAlgorithm(raw.to_owned())),
        }
    }
}

/// Why a development key could not be made or read, or a token not signed.
#[derive(Debug, Error)]
pub enum DevKeyError {
    /// The HS256 secret is too short to be safe (the server would refuse it).
    #[error("must be at least {MIN_SECRET_BYTES} bytes (got {0})")]
    SecretTooShort(usize),
    /// Not one of rs256, es256, es384, eddsa.
    #[error("unknown algorithm {0:?}: use rs256, es256, es384 or eddsa")]
    UnknownAlgorithm(String),
    /// The crypto library refused to generate a key.
    #[error("key generation failed")]
    Generation,
    /// The file is not a PKCS#8 `PRIVATE KEY` PEM of a supported key.
    #[error("not a PKCS#8 RSA, P-256, P-384 or Ed25519 private key in PEM")]
    UnsupportedKey,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

/// Generates a new private key and returns it as a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
pub fn generate_pem(kind: KeyKind) -> Result<String, DevKeyError> {
    let rng = SystemRandom::new();
    let der: Vec<u8> = match kind {
        KeyKind::Rs256 => aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048)
            .and_then(|pair| pair.as_der())
            .map(|der| der.as_ref().to_vec()),
        KeyKind::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(|doc| doc.as_ref().to_vec()),
        KeyKind::Es384 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .map(|doc| doc.as_ref().to_vec()),
        // PKCS#8 v1: the form openssl writes and `jsonwebtoken` reads.
        KeyKind::EdDsa => Ed25519KeyPair::generate_pkcs8v1(&rng).map(|doc| doc.as_ref().to_vec()),
    }
    .map_err(|_| DevKeyError::Generation)?;
    Ok(pem::encode(&pem::Pem::new("PRIVATE KEY", der)))
}

/// A private key that signs tokens, with its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    algorithm: Algorithm,
    encoding: EncodingKey,
    jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads a PKCS#8 PEM private key; the algorithm follows from the key (RSA → RS256,
    /// P-256 → ES256, P-384 → ES384, Ed25519 → EdDSA).
    pub fn from_pem(pem: &[u8]) -> Result<Self, DevKeyError> {
        let candidates = [
            (Algorithm::RS256, EncodingKey::from_rsa_pem(pem)),
            (Algorithm::ES256, EncodingKey::from_ec_pem(pem)),
            (Algorithm::ES384, EncodingKey::from_ec_pem(pem)),
            (Algorithm::EdDSA, EncodingKey::from_ed_pem(pem)),
        ];
        for (algorithm, encoding) in candidates {
            let Ok(encoding) = encoding else { continue };
            // The public half can only be derived when the key really is of this algorithm
            // (an EC key of the other curve, an RSA PEM read as EC, … fail here).
            let Ok(mut jwk) = Jwk::from_encoding_key(&encoding, algorithm) else {
                continue;
            };
            let kid = jwk
                .thumbprint(ThumbprintHash::SHA256)
                .map_err(|_| DevKeyError::UnsupportedKey)?;
            jwk.common.key_id = Some(kid);
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            let key = Self {
                algorithm,
                encoding,
                jwk,
            };
            // A key that cannot sign (e.g. an RSA key read with the wrong parser) is not it.
            if key.sign(&serde_json::json!({"probe": true})).is_ok() {
                return Ok(key);
            }
        }
        Err(DevKeyError::UnsupportedKey)
    }

    /// The same RSA key signing with RS384 or RS512 instead (its JWK then says so in `alg`,
    /// which is how a JWKS tells verifiers). Other keys and algorithms are refused.
    pub fn with_rsa_algorithm(mut self, algorithm: Algorithm) -> Result<Self, DevKeyError> {
        let rsa = [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];
        if !rsa.contains(&self.algorithm) || !rsa.contains(&algorithm) {
            return Err(DevKeyError::UnsupportedKey);
        }
        self.algorithm = algorithm;
        self.jwk.common.key_algorithm = Some(match algorithm {
            Algorithm::RS384 => KeyAlgorithm::RS384,
            Algorithm::RS512 => KeyAlgorithm::RS512,
            _ => KeyAlgorithm::RS256,
        });
        Ok(self)
    }

    /// The key id: the RFC 7638 SHA-256 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        self.jwk.common.key_id.as_deref().unwrap_or_default()
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key as published in a JWKS.
    pub fn public_jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Signs `claims` with this key; the header names the algorithm and the `kid`.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String, DevKeyError> {
        let mut header = Header::new(self.algorithm);
        header.kid = self.jwk.common.key_id.clone();
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

/// The JWKS publishing the public halves of `keys`.
pub fn jwks(keys: &[SigningKey]) -> JwkSet {
    JwkSet {
        keys: keys.iter().map(|key| key.jwk.clone()).collect(),
    }
}

/// Signs a development token with an HS256 secret (`cartd token` without `--alg`); the header
/// has no `kid`, so the server checks it with its `CARTD_JWT_SECRET`.
pub fn mint_hs256(secret: &SecretString, claims: &impl Serialize) -> Result<String, DevKeyError> {
    let bytes = secret.expose_secret().as_bytes();
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(DevKeyError::SecretTooShort(bytes.len()));
    }
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(bytes),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_pem_and_signs() {
        for kind in [
            KeyKind::Rs256,
            KeyKind::Es256,
            KeyKind::Es384,
            KeyKind::EdDsa,
        ] {
            let pem = generate_pem(kind).expect("generate");
            let key =
                SigningKey::from_pem(pem.as_bytes()).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert_eq!(key.algorithm(), kind.algorithm());
        }
    }
}
