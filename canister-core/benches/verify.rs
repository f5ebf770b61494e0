//! Signature verification of provider tokens, side by side in one run: RS256, ES256 and
//! EdDSA with jsonwebtoken's two backends' primitives (RustCrypto: `rsa`, `p256`,
//! `ed25519-dalek`; `aws-lc-rs`), each with the key parsed per call (as jsonwebtoken 11
//! does inside `crypto::verify`) and parsed once (cached), then canister's own
//! `Jwt::verify` with keys from a JWK Set. Tokens and keys made by PyJWT
//! (`tests/data/oidc`). Compare with `openssl speed -seconds 3 rsa2048 ecdsap256 ed25519`
//! (BENCHMARKS.md).
#![allow(missing_docs, clippy::unwrap_used, reason = "benchmark")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_lc_rs::signature as lc;
use base64::Engine as _;
use canister_core::auth::{JwkSet, JwksCache, Jwt};
use canister_core::config::JwtAlgorithm;
use canister_core::TestClock;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::signature::Verifier;
use serde_json::Value;
use sha2::Digest;

const TOKENS: &str = include_str!("../tests/data/oidc/tokens.json");
const JWKS: &str = include_str!("../tests/data/oidc/jwks_a.json");

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn token(name: &str) -> String {
    let data: Value = serde_json::from_str(TOKENS).unwrap();
    data["tokens"][name].as_str().unwrap().to_owned()
}

fn jwk(kid: &str) -> Value {
    let set: Value = serde_json::from_str(JWKS).unwrap();
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap()
        .clone()
}

/// (signing input, signature) of a token.
fn parts(token: &str) -> (Vec<u8>, Vec<u8>) {
    let (input, sig) = token.rsplit_once('.').unwrap();
    (input.as_bytes().to_vec(), b64(sig))
}

fn verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("signature_verify");
    group.measurement_time(Duration::from_secs(3));

    // RS256, 2048-bit key.
    let key = jwk("rsa-a");
    let (n, e) = (
        b64(key["n"].as_str().unwrap()),
        b64(key["e"].as_str().unwrap()),
    );
    let (msg, sig) = parts(&token("rs256"));
    let rsa_key = || {
        rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(&n),
            rsa::BigUint::from_bytes_be(&e),
        )
        .unwrap()
    };
    let rc_verify = |key: &rsa::RsaPublicKey| {
        let digest = sha2::Sha256::digest(&msg);
        key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, &sig)
            .unwrap();
    };
    group.bench_function(BenchmarkId::new("RS256", "rust_crypto"), |b| {
        b.iter(|| rc_verify(&rsa_key()));
    });
    let cached = rsa_key();
    group.bench_function(BenchmarkId::new("RS256", "rust_crypto_cached"), |b| {
        b.iter(|| rc_verify(black_box(&cached)));
    });
    group.bench_function(BenchmarkId::new("RS256", "aws_lc_rs"), |b| {
        b.iter(|| {
            lc::RsaPublicKeyComponents { n: &n, e: &e }
                .verify(&lc::RSA_PKCS1_2048_8192_SHA256, &msg, &sig)
                .unwrap();
        });
    });
    let der = cached.to_pkcs1_der().unwrap();
    let parsed = lc::ParsedPublicKey::new(&lc::RSA_PKCS1_2048_8192_SHA256, der.as_bytes()).unwrap();
    group.bench_function(BenchmarkId::new("RS256", "aws_lc_rs_cached"), |b| {
        b.iter(|| parsed.verify_sig(black_box(&msg), &sig).unwrap());
    });

    // ES256, P-256.
    let key = jwk("ec256-a");
    let mut point = vec![4u8];
    point.extend(b64(key["x"].as_str().unwrap()));
    point.extend(b64(key["y"].as_str().unwrap()));
    let (msg, sig) = parts(&token("es256"));
    let p256_sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
    group.bench_function(BenchmarkId::new("ES256", "rust_crypto"), |b| {
        b.iter(|| {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
            key.verify(&msg, &p256_sig).unwrap();
        });
    });
    let cached = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    group.bench_function(BenchmarkId::new("ES256", "rust_crypto_cached"), |b| {
        b.iter(|| cached.verify(black_box(&msg), &p256_sig).unwrap());
    });
    group.bench_function(BenchmarkId::new("ES256", "aws_lc_rs"), |b| {
        b.iter(|| {
            lc::UnparsedPublicKey::new(&lc::ECDSA_P256_SHA256_FIXED, &point)
                .verify(&msg, &sig)
                .unwrap();
        });
    });
    let parsed = lc::ParsedPublicKey::new(&lc::ECDSA_P256_SHA256_FIXED, &point).unwrap();
    group.bench_function(BenchmarkId::new("ES256", "aws_lc_rs_cached"), |b| {
        b.iter(|| parsed.verify_sig(black_box(&msg), &sig).unwrap());
    });

    // EdDSA, Ed25519.
    let key = jwk("ed-a");
    let x: [u8; 32] = b64(key["x"].as_str().unwrap()).try_into().unwrap();
    let (msg, sig) = parts(&token("eddsa"));
    let ed_sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
    group.bench_function(BenchmarkId::new("EdDSA", "rust_crypto"), |b| {
        b.iter(|| {
            let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
            key.verify(&msg, &ed_sig).unwrap();
        });
    });
    let cached = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
    group.bench_function(BenchmarkId::new("EdDSA", "rust_crypto_cached"), |b| {
        b.iter(|| cached.verify(black_box(&msg), &ed_sig).unwrap());
    });
    group.bench_function(BenchmarkId::new("EdDSA", "aws_lc_rs"), |b| {
        b.iter(|| {
            lc::UnparsedPublicKey::new(&lc::ED25519, &x)
                .verify(&msg, &sig)
                .unwrap();
        });
    });
    let parsed = lc::ParsedPublicKey::new(&lc::ED25519, x).unwrap();
    group.bench_function(BenchmarkId::new("EdDSA", "aws_lc_rs_cached"), |b| {
        b.iter(|| parsed.verify_sig(black_box(&msg), &sig).unwrap());
    });

    // canister's own path: header, kid lookup, signature (the backend canister-core is
    // built with), claims.
    let clock = TestClock::at(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let cache =
        JwksCache::new_with_clock("bench", Duration::from_secs(600), Arc::new(clock.clone()));
    cache.store(JwkSet::parse(JWKS.as_bytes()).unwrap(), None);
    let jwt = Jwt::builder("alice")
        .algorithms(JwtAlgorithm::PROVIDER_DEFAULT)
        .jwks(cache)
        .clock(Arc::new(clock))
        .build()
        .unwrap();
    for (name, alg) in [("rs256", "RS256"), ("es256", "ES256"), ("eddsa", "EdDSA")] {
        let token = token(name);
        group.bench_function(BenchmarkId::new(alg, "canister_jwt_verify"), |b| {
            b.iter(|| jwt.verify(black_box(&token)).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
