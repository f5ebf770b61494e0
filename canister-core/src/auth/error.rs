//! Why an authenticator could not be built.

use std::path::PathBuf;

use crate::config::JwtAlgorithm;

/// Why a [`Basic`](super::Basic) or [`Jwt`](super::Jwt) authenticator could not be built.
///
/// Refusals of a request's credentials are not errors: they are
/// [`AuthOutcome::Refused`](super::AuthOutcome::Refused). These errors happen once, when the
/// authenticator is built, and say what to fix. No message contains a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A Basic password given as a SHA-256 digest is not 64 hex digits. Give the lowercase or
    /// uppercase hex SHA-256 of the password (`printf %s 'password' | sha256sum`).
    #[error(
        "invalid sha256 password of user {username:?}: expected the 64 hex digits of the password's SHA-256"
    )]
    InvalidPasswordDigest {
        /// The user whose password is at fault.
        username: String,
    },
    /// The htpasswd file could not be read.
    #[error("cannot read htpasswd file {}", path.display())]
    HtpasswdFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of an htpasswd file is not `user:bcrypt-hash` as canister accepts it (another
    /// hash format, a malformed or too costly bcrypt hash, a user listed twice), or the file
    /// lists nobody. The message names the line, never the hash. Recreate the entry with
    /// `htpasswd -B FILE USER` (bcrypt, cost 5 by default; `-C 10` for cost 10).
    #[error("{origin}, line {line}: {reason}")]
    InvalidHtpasswd {
        /// The file (or `<string>`).
        origin: String,
        /// The 1-based line number (0 when the file as a whole is at fault).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The JWT audience is empty. Give the client id that tokens carry in `aud`.
    #[error("empty jwt audience: expected the client id that tokens carry in `aud`")]
    EmptyAudience,
    /// No JWT algorithm is accepted. List at least one (HS256 is the default).
    #[error("no jwt algorithm accepted: expected at least one of HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, PS256, PS384, PS512, EdDSA")]
    NoAlgorithms,
    /// The JWT secret is not valid in the encoding it was declared in.
    #[error("jwt secret is not valid {encoding}: expected {expected}")]
    InvalidSecret {
        /// The declared encoding (`base64std` or `base64url`).
        encoding: &'static str,
        /// What that encoding accepts.
        expected: &'static str,
    },
    /// The JWT secret is empty, which anyone could guess. Give a long random secret.
    #[error("empty jwt secret: an hmac secret must not be empty")]
    EmptySecret,
    /// An HS algorithm is accepted but no secret was given.
    #[error("jwt algorithm {} needs a secret", algorithm.as_str())]
    MissingSecret {
        /// The HS algorithm.
        algorithm: JwtAlgorithm,
    },
    /// A secret was given but no HS algorithm is accepted: the secret would never be used.
    /// Add HS256 (or HS384, HS512) to the algorithms, or remove the secret.
    #[error("a jwt secret is given but no HS algorithm is accepted: add HS256, HS384 or HS512 to the algorithms, or remove the secret")]
    UnusedSecret,
    /// An RS, ES or PS algorithm is accepted but no public key was given.
    #[error("jwt algorithm {} needs a PEM public key", algorithm.as_str())]
    MissingPublicKey {
        /// The asymmetric algorithm.
        algorithm: JwtAlgorithm,
    },
    /// A public key was given but no RS, ES or PS algorithm is accepted: the key would never be
    /// used. Add the key's algorithm (RS256, ES256, ...) or remove the key.
    #[error("a jwt public key is given but no RS, ES or PS algorithm is accepted: add the key's algorithm or remove the key")]
    UnusedPublicKey,
    /// Two accepted algorithms need different kinds of key (RSA and EC, or two EC curves), but
    /// there is one public key. Accept only the algorithms of your key.
    #[error(
        "jwt algorithms {} and {} cannot share one public key: accept only the algorithms of your key",
        first.as_str(),
        second.as_str()
    )]
    MixedKeyTypes {
        /// The first algorithm.
        first: JwtAlgorithm,
        /// The algorithm that needs another kind of key.
        second: JwtAlgorithm,
    },
    /// The public key file could not be read.
    #[error("cannot read jwt public key file {}", path.display())]
    PublicKeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An [`Issuers`](super::Issuers) member names no issuer, or two name the same one: each
    /// member must be built with its own [`JwtBuilder::issuer`](super::JwtBuilder::issuer).
    #[error("every authenticator of an issuer chain needs an issuer of its own: {reason}")]
    IssuerChain {
        /// What is wrong (no member, one without an issuer, or an issuer given twice).
        reason: String,
    },
    /// The public key is not a PEM key of the kind the algorithms need.
    #[error("jwt public key is not a PEM {kind} public key")]
    InvalidPublicKey {
        /// `RSA` or `EC`.
        kind: &'static str,
        /// What jsonwebtoken found wrong.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
}
