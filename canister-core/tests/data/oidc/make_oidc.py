#!/usr/bin/env python3
"""Makes the fixed identity-provider test data: JWK Sets and RS/PS/ES/EdDSA tokens.

The tokens and key sets are made by PyJWT and cryptography, so that canister's verifier
(jsonwebtoken) is tested against another implementation's signing and JWK encoding. Run from
this directory:

    pip install pyjwt cryptography
    python3 make_oidc.py

It rewrites jwks_a.json (the provider's first key set), jwks_b.json (after a rotation),
rsa_a_private.pem (for tests that mint tokens with a run-time issuer) and tokens.json.
ECDSA, PSS and the keys are randomised, so a re-run changes everything; every token but
`expired` stays valid until `exp` = 2100-01-01.
"""

import json
import os

import jwt
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

HERE = os.path.dirname(os.path.abspath(__file__))
EXP_2100 = 4102444800
EXP_2001 = 978307200
AUD = "alice"
ISSUER = "https://issuer.example"
HS_SECRET = b"an oct key that must never verify anything"


def jwk(key, kid, alg=None, use="sig", cls=RSAAlgorithm):
    d = json.loads(cls.to_jwk(key.public_key()))
    d["kid"] = kid
    if use is not None:
        d["use"] = use
    if alg is not None:
        d["alg"] = alg
    return d


def main():
    rsa_a = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_enc = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_b = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec256 = ec.generate_private_key(ec.SECP256R1())
    ec384 = ec.generate_private_key(ec.SECP384R1())
    ed = ed25519.Ed25519PrivateKey.generate()

    oct_key = json.loads(jwt.algorithms.HMACAlgorithm.to_jwk(HS_SECRET))
    oct_key.update({"kid": "hs-a", "alg": "HS256", "use": "sig"})
    jwks_a = {
        "keys": [
            jwk(rsa_a, "rsa-a", "RS256"),
            # No `alg`, as Entra ID publishes its keys: RS*/PS* by key type.
            jwk(rsa_any, "rsa-any", None),
            jwk(rsa_enc, "rsa-enc", "RS256", use="enc"),
            jwk(ec256, "ec256-a", "ES256", cls=ECAlgorithm),
            jwk(ec384, "ec384-a", "ES384", cls=ECAlgorithm),
            jwk(ed, "ed-a", "EdDSA", cls=OKPAlgorithm),
            oct_key,
        ]
    }
    # After a rotation: rsa-a is gone, rsa-b is new.
    jwks_b = {"keys": [jwk(rsa_b, "rsa-b", "RS256"), jwk(ec256, "ec256-a", "ES256", cls=ECAlgorithm)]}

    def claims(**extra):
        c = {"sub": "carol", "aud": AUD, "iss": ISSUER, "exp": EXP_2100, "iat": 1700000000,
             "scope": "openid profile"}
        c.update(extra)
        return c

    def tok(key, alg, kid, **extra):
        return jwt.encode(claims(**extra), key, algorithm=alg, headers={"kid": kid})

    tokens = {
        "rs256": tok(rsa_a, "RS256", "rsa-a"),
        "rs384": tok(rsa_any, "RS384", "rsa-any"),
        "rs512": tok(rsa_any, "RS512", "rsa-any"),
        "ps256": tok(rsa_any, "PS256", "rsa-any"),
        "ps384": tok(rsa_any, "PS384", "rsa-any"),
        "ps512": tok(rsa_any, "PS512", "rsa-any"),
        "es256": tok(ec256, "ES256", "ec256-a"),
        "es384": tok(ec384, "ES384", "ec384-a"),
        "eddsa": tok(ed, "EdDSA", "ed-a"),
        # Scopes (Keycloak/Auth0 `scope`, Entra ID `scp`).
        "rs256_orders_read": tok(rsa_a, "RS256", "rsa-a", scope="openid orders:read"),
        "es256_scp_orders_read": tok(ec256, "ES256", "ec256-a", scope=None, scp="orders:read"),
        # The key's alg is RS256: a token of another algorithm naming it is refused.
        "rs384_on_rs256_key": tok(rsa_a, "RS384", "rsa-a"),
        # Signed by the `use: enc` key, and by the `oct` key: both must be left out.
        "rs256_enc_key": tok(rsa_enc, "RS256", "rsa-enc"),
        "hs256_oct_key": jwt.encode(claims(), HS_SECRET, algorithm="HS256", headers={"kid": "hs-a"}),
        # A key the provider publishes only after rotating (jwks_b).
        "rs256_rotated": tok(rsa_b, "RS256", "rsa-b"),
        # A kid no key set has.
        "rs256_unknown_kid": tok(rsa_a, "RS256", "nobody"),
        "rs256_wrong_issuer": tok(rsa_a, "RS256", "rsa-a", iss="https://evil.example"),
        "rs256_expired": tok(rsa_a, "RS256", "rsa-a", exp=EXP_2001),
        # Signed by rsa-b but naming rsa-a: a bad signature.
        "rs256_forged_kid": tok(rsa_b, "RS256", "rsa-a"),
    }
    with open(os.path.join(HERE, "jwks_a.json"), "w") as f:
        json.dump(jwks_a, f, indent=2)
        f.write("\n")
    with open(os.path.join(HERE, "jwks_b.json"), "w") as f:
        json.dump(jwks_b, f, indent=2)
        f.write("\n")
    with open(os.path.join(HERE, "rsa_a_private.pem"), "wb") as f:
        f.write(rsa_a.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    with open(os.path.join(HERE, "tokens.json"), "w") as f:
        json.dump({"generator": f"PyJWT {jwt.__version__}", "audience": AUD, "issuer": ISSUER,
                   "hs_secret_of_oct_key": HS_SECRET.decode(), "tokens": tokens}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
