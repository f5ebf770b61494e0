//! Authentication costs: Basic verify, HS256, RS256 and ES256 verify (tokens made by PyJWT).
#![allow(missing_docs, clippy::unwrap_used, reason = "benchmark")]

use std::hint::black_box;

use canister_core::auth::{Basic, Jwt};
use canister_core::config::JwtAlgorithm;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const TOKENS: &str = include_str!("../tests/data/jwt/tokens.json");
const RSA_PUBLIC: &str = include_str!("../tests/data/jwt/rsa_public.pem");
const EC256_PUBLIC: &str = include_str!("../tests/data/jwt/ec256_public.pem");

fn token(name: &str) -> String {
    let data: serde_json::Value = serde_json::from_str(TOKENS).unwrap();
    data["tokens"][name].as_str().unwrap().to_owned()
}

fn basic(c: &mut Criterion) {
    let mut group = c.benchmark_group("basic_verify");
    let clear = Basic::new("alice", "my-secret");
    let sha = Basic::from_sha256(
        "alice",
        "186ef76e9d6a723ecb570d4d9c287487d001e5d35f7ed4a313350a407950318e",
    )
    .unwrap();
    group.bench_function(BenchmarkId::new("clear", "ok"), |b| {
        b.iter(|| assert!(clear.verify(black_box("alice"), black_box("my-secret"))));
    });
    group.bench_function(BenchmarkId::new("sha256", "ok"), |b| {
        b.iter(|| assert!(sha.verify(black_box("alice"), black_box("my-secret"))));
    });
    group.bench_function(BenchmarkId::new("clear", "wrong"), |b| {
        b.iter(|| assert!(!clear.verify(black_box("alice"), black_box("my-secreT"))));
    });
    group.finish();
}

fn jwt(c: &mut Criterion) {
    let mut group = c.benchmark_group("jwt_verify");
    let hs = Jwt::hs256("alice", "secret").unwrap();
    let rs = Jwt::builder("alice")
        .algorithms([JwtAlgorithm::RS256])
        .public_key_pem(RSA_PUBLIC)
        .build()
        .unwrap();
    let es = Jwt::builder("alice")
        .algorithms([JwtAlgorithm::ES256])
        .public_key_pem(EC256_PUBLIC)
        .build()
        .unwrap();
    for (name, jwt, token) in [
        ("HS256", &hs, token("hs256")),
        ("RS256", &rs, token("rs256")),
        ("ES256", &es, token("es256")),
    ] {
        group.bench_function(BenchmarkId::new(name, "ok"), |b| {
            b.iter(|| jwt.verify(black_box(&token)).unwrap());
        });
    }
    let bad = token("hs256_wrong_secret");
    group.bench_function(BenchmarkId::new("HS256", "bad_signature"), |b| {
        b.iter(|| jwt_refused(&hs, &bad));
    });
    group.finish();
}

fn jwt_refused(jwt: &Jwt, token: &str) {
    assert!(jwt.verify(black_box(token)).is_err());
}

criterion_group!(benches, basic, jwt);
criterion_main!(benches);
