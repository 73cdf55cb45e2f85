//! The JWS algorithms the authorization server signs with (`EdDSA`, `RS256`, `ES256`): key generation, loading a stored PKCS#8 key, signing with ring, and the public JWK of a key.

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::rsa::PublicKeyComponents;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::super::OAuthError;
use crate::error::Error;

/// The modulus size of generated RSA keys.
pub(super) const RSA_BITS: usize = 2048;

/// A JWS algorithm (RFC 7518, RFC 8037) tokens are signed with.
///
/// ```
/// use authstore::oauth::SigningAlg;
/// assert_eq!("RS256".parse::<SigningAlg>().unwrap(), SigningAlg::RS256);
/// assert_eq!(SigningAlg::ES256.as_str(), "ES256");
/// assert!("HS256".parse::<SigningAlg>().unwrap_err().to_string().contains("EdDSA"));
/// ```
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SigningAlg {
    /// Ed25519 (RFC 8037): small keys and signatures, fast.
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys: the algorithm every
    /// OpenID Connect relying party supports.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

impl SigningAlg {
    /// Every algorithm, in a fixed order.
    pub const ALL: [Self; 3] = [Self::EdDSA, Self::RS256, Self::ES256];

    /// The JWS `alg` name: `EdDSA`, `RS256` or `ES256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }
}

impl std::fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A name that is not one of the [`SigningAlg`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signing algorithm {0:?}: expected \"EdDSA\", \"RS256\" or \"ES256\"")]
pub struct UnknownSigningAlg(String);

impl FromStr for SigningAlg {
    type Err = UnknownSigningAlg;

    /// The exact JWS name (`EdDSA`, `RS256`, `ES256`; case matters, as in a JWS header).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str() == text)
            .ok_or_else(|| {
                // Bounded, so a long value never floods a log or an error page.
                UnknownSigningAlg(text.chars().take(32).collect())
            })
    }
}

/// A generated key: its PKCS#8 document and its public half as stored.
pub(super) struct NewKey {
    pub(super) pkcs8: Vec<u8>,
    pub(super) public: PublicKey,
}

/// The public half of a key as stored beside it (base64url fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PublicKey {
    /// Ed25519: the raw key. P-256: the uncompressed point. RSA: the modulus.
    pub(super) public: String,
    /// RSA only: the public exponent.
    pub(super) e: Option<String>,
}

/// A loaded private key, ready to sign.
pub(super) enum SigningPair {
    Ed25519(Ed25519KeyPair),
    P256(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl std::fmt::Debug for SigningPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ed25519(_) => "SigningPair::Ed25519",
            Self::P256(_) => "SigningPair::P256",
            Self::Rsa(_) => "SigningPair::Rsa",
        })
    }
}

fn ring_failed(what: &'static str) -> OAuthError {
    Error::internal("ring", what).into()
}

/// Generates a key for `alg`. RSA key generation takes a while: call it off
/// the async threads.
pub(super) fn generate(alg: SigningAlg) -> Result<NewKey, OAuthError> {
    let rng = SystemRandom::new();
    let pkcs8 = match alg {
        SigningAlg::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| ring_failed("could not generate an Ed25519 key"))?
            .as_ref()
            .to_vec(),
        SigningAlg::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| ring_failed("could not generate a P-256 key"))?
            .as_ref()
            .to_vec(),
        SigningAlg::RS256 => generate_rsa()?,
    };
    let pair =
        load(alg, &pkcs8).ok_or_else(|| ring_failed("could not load the generated signing key"))?;
    Ok(NewKey {
        public: pair.public_key(),
        pkcs8,
    })
}

/// A 2048-bit RSA key (exponent 65537) as PKCS#8, from the `rsa` crate;
/// ring signs with it.
fn generate_rsa() -> Result<Vec<u8>, OAuthError> {
    use rsa::pkcs8::EncodePrivateKey as _;
    let key = rsa::PrivateKey::new(&mut OsRng, RSA_BITS)
        .map_err(|e| Error::internal("RSA key generation", e.to_string()))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| Error::internal("RSA key encoding", e.to_string()))?;
    Ok(der.as_bytes().to_vec())
}

/// The operating system's random generator, for the `rsa` crate.
struct OsRng;

/// The operating system's random generator failed.
#[derive(Debug, thiserror::Error)]
#[error("the system random generator failed")]
struct RngFailed;

impl rsa::rand_core::TryRng for OsRng {
    type Error = RngFailed;

    fn try_next_u32(&mut self) -> Result<u32, RngFailed> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, RngFailed> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RngFailed> {
        getrandom::fill(dst).map_err(|_| RngFailed)
    }
}

impl rsa::rand_core::TryCryptoRng for OsRng {}

/// Loads a stored PKCS#8 document as a key of `alg`; `None` if it is not one
/// (an RSA key under 2048 bits included).
pub(super) fn load(alg: SigningAlg, pkcs8: &[u8]) -> Option<SigningPair> {
    match alg {
        SigningAlg::EdDSA => Ed25519KeyPair::from_pkcs8(pkcs8)
            .ok()
            .map(SigningPair::Ed25519),
        SigningAlg::ES256 => EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .ok()
        .map(SigningPair::P256),
        SigningAlg::RS256 => RsaKeyPair::from_pkcs8(pkcs8)
            .ok()
            .filter(|pair| pair.public().modulus_len() * 8 >= RSA_BITS)
            .map(SigningPair::Rsa),
    }
}

impl SigningPair {
    /// The JWS signature of `input` (RFC 7515 / 7518 encoding: raw `r || s` for ES256).
    pub(super) fn sign(&self, input: &[u8]) -> Result<Vec<u8>, OAuthError> {
        match self {
            Self::Ed25519(pair) => Ok(pair.sign(input).as_ref().to_vec()),
            Self::P256(pair) => pair
                .sign(&SystemRandom::new(), input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| ring_failed("ES256 signing failed")),
            Self::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input,
                    &mut signature,
                )
                .map_err(|_| ring_failed("RS256 signing failed"))?;
                Ok(signature)
            }
        }
    }

    /// The public half, as stored.
    pub(super) fn public_key(&self) -> PublicKey {
        match self {
            Self::Ed25519(pair) => PublicKey {
                public: URL_SAFE_NO_PAD.encode(pair.public_key()),
                e: None,
            },
            Self::P256(pair) => PublicKey {
                public: URL_SAFE_NO_PAD.encode(pair.public_key()),
                e: None,
            },
            Self::Rsa(pair) => {
                let parts = PublicKeyComponents::<Vec<u8>>::from(pair.public());
                PublicKey {
                    public: URL_SAFE_NO_PAD.encode(parts.n),
                    e: Some(URL_SAFE_NO_PAD.encode(parts.e)),
                }
            }
        }
    }
}

/// The public JWK (RFC 7517) of a stored key; `None` if its public half is
/// malformed (it is then left out of the set).
pub(super) fn public_jwk(alg: SigningAlg, kid: &str, public: &PublicKey) -> Option<Value> {
    let jwk = match alg {
        SigningAlg::EdDSA => json!({ "kty": "OKP", "crv": "Ed25519", "x": public.public }),
        SigningAlg::ES256 => {
            // The uncompressed point: 0x04 || x || y, 32 bytes each.
            let point = URL_SAFE_NO_PAD.decode(&public.public).ok()?;
            if point.len() != 65 || point[0] != 4 {
                return None;
            }
            json!({
                "kty": "EC",
                "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            })
        }
        SigningAlg::RS256 => json!({ "kty": "RSA", "n": public.public, "e": public.e.as_ref()? }),
    };
    let Value::Object(mut jwk) = jwk else {
        return None;
    };
    jwk.insert("alg".into(), alg.as_str().into());
    jwk.insert("use".into(), "sig".into());
    jwk.insert("kid".into(), kid.into());
    Some(Value::Object(jwk))
}
