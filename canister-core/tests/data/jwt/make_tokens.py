#!/usr/bin/env python3
"""Makes the fixed JWT test data of canister-core's authentication tests.

Tokens are made by PyJWT (and, for the forged ones, by hand with hmac), so that the Rust
verifier is tested against a library other than the one it uses. Run from this directory:

    pip install pyjwt cryptography
    python3 make_tokens.py

It rewrites the keys (*.pem) and tokens.json. ECDSA and PSS signatures are randomised, so a
re-run changes those tokens; every token stays valid until `exp` = 2100-01-01.
"""

import base64
import hashlib
import hmac
import json
import os
import warnings

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

HERE = os.path.dirname(os.path.abspath(__file__))
EXP_2100 = 4102444800  # 2100-01-01T00:00:00Z
NBF_2099 = 4070908800  # 2099-01-01T00:00:00Z
EXP_2001 = 978307200  # 2001-01-01T00:00:00Z
AUD = "alice"  # auth_jwt_client_id of canister's 7_oauth2 example
SECRET = "secret"  # auth_jwt_secret of the same example (encoding clear)
# A binary secret, given to the Rust side in base64std / base64url (tests drop the padding too).
BINARY_SECRET = bytes(range(0xE0, 0x100))
ISSUER = "https://issuer.example"


def write_pem(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def private_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header, claims, key, digest=hashlib.sha256):
    """A token PyJWT refuses to make (HS256 keyed with a PEM, alg none)."""
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{head}.{body}".encode()
    if key is None:
        return f"{head}.{body}."
    sig = hmac.new(key, signing_input, digest).digest()
    return f"{head}.{body}.{b64url(sig)}"


def main():
    # The example secret is short on purpose (it is canister's); PyJWT warns about it.
    warnings.simplefilter("ignore")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec256_key = ec.generate_private_key(ec.SECP256R1())
    ec384_key = ec.generate_private_key(ec.SECP384R1())
    write_pem("rsa_private.pem", private_pem(rsa_key))
    write_pem("rsa_public.pem", public_pem(rsa_key))
    write_pem("ec256_private.pem", private_pem(ec256_key))
    write_pem("ec256_public.pem", public_pem(ec256_key))
    write_pem("ec384_private.pem", private_pem(ec384_key))
    write_pem("ec384_public.pem", public_pem(ec384_key))

    claims = {
        "sub": "carol",
        "aud": AUD,
        "exp": EXP_2100,
        "iat": 1700000000,
        "name": "Carol Ünicode",
        "scope": "read write",
    }
    rsa_pem = private_pem(rsa_key)
    tokens = {
        "hs256": jwt.encode(claims, SECRET, algorithm="HS256"),
        "hs384": jwt.encode(claims, SECRET, algorithm="HS384"),
        "hs512": jwt.encode(claims, SECRET, algorithm="HS512"),
        "hs256_binary_secret": jwt.encode(claims, BINARY_SECRET, algorithm="HS256"),
        "rs256": jwt.encode(claims, rsa_pem, algorithm="RS256"),
        "rs384": jwt.encode(claims, rsa_pem, algorithm="RS384"),
        "rs512": jwt.encode(claims, rsa_pem, algorithm="RS512"),
        "ps256": jwt.encode(claims, rsa_pem, algorithm="PS256"),
        "es256": jwt.encode(claims, private_pem(ec256_key), algorithm="ES256"),
        "es384": jwt.encode(claims, private_pem(ec384_key), algorithm="ES384"),
        "rs256_other_key": jwt.encode(claims, private_pem(other_rsa_key), algorithm="RS256"),
        "hs256_aud_list": jwt.encode({**claims, "aud": ["someone", AUD]}, SECRET, algorithm="HS256"),
        "hs256_issuer": jwt.encode({**claims, "iss": ISSUER}, SECRET, algorithm="HS256"),
        "hs256_expired": jwt.encode({**claims, "exp": EXP_2001}, SECRET, algorithm="HS256"),
        "hs256_not_yet_valid": jwt.encode({**claims, "nbf": NBF_2099}, SECRET, algorithm="HS256"),
        "hs256_wrong_audience": jwt.encode({**claims, "aud": "mallory"}, SECRET, algorithm="HS256"),
        "hs256_no_audience": jwt.encode(
            {k: v for k, v in claims.items() if k != "aud"}, SECRET, algorithm="HS256"
        ),
        "hs256_no_exp": jwt.encode(
            {k: v for k, v in claims.items() if k != "exp"}, SECRET, algorithm="HS256"
        ),
        "hs256_no_sub": jwt.encode(
            {k: v for k, v in claims.items() if k != "sub"}, SECRET, algorithm="HS256"
        ),
        "hs256_wrong_secret": jwt.encode(claims, "not-the-secret", algorithm="HS256"),
        # Algorithm confusion: HS256 keyed with the bytes of the RSA public key's PEM file.
        "hs256_keyed_with_rsa_public_pem": hand_made(
            {"alg": "HS256", "typ": "JWT"}, claims, public_pem(rsa_key)
        ),
        "alg_none": hand_made({"alg": "none", "typ": "JWT"}, claims, None),
    }
    data = {
        "generator": f"PyJWT {jwt.__version__}",
        "audience": AUD,
        "secret": SECRET,
        "binary_secret_base64std": base64.standard_b64encode(BINARY_SECRET).decode(),
        "binary_secret_base64url": base64.urlsafe_b64encode(BINARY_SECRET).decode(),
        "issuer": ISSUER,
        "exp": EXP_2100,
        "nbf": NBF_2099,
        "tokens": tokens,
    }
    with open(os.path.join(HERE, "tokens.json"), "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
