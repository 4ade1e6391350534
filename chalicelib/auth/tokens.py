"""Access tokens (HS256 JWT via PyJWT) and refresh tokens (opaque, stored hashed)."""

from __future__ import annotations

import hashlib
import secrets

import jwt

from chalicelib import clock
from chalicelib.auth.keys import key_ring
from chalicelib.settings import get_settings
from chalicelib.vocabulary import Caller, Role

ALGORITHM = "HS256"


class InvalidToken(Exception):
    pass


def issue_access_token(user_id: str, role: str) -> str:
    settings = get_settings()
    ring = key_ring()
    issued = int(clock.now())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": user_id,
        "role": role,
        "iat": issued,
        "exp": issued + settings.access_token_ttl,
        "jti": secrets.token_hex(8),
        "typ": "access",
    }
    return jwt.encode(claims, ring.signing_key, algorithm=ALGORITHM, headers={"kid": ring.current})


def verify_access_token(token: str) -> Caller:
    """Every failure is the same `InvalidToken`: the authorizer turns it into a plain 401."""
    settings = get_settings()
    ring = key_ring()
    try:
        header = jwt.get_unverified_header(token)
        key = ring.keys.get(header.get("kid", ""))
        if key is None or header.get("alg") != ALGORITHM:
            raise InvalidToken("unknown key or algorithm")
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if claims.get("typ") != "access" or claims.get("role") not in list(Role):
        raise InvalidToken("not an access token")
    return Caller(id=str(claims["sub"]), role=Role(claims["role"]))


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def refresh_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
