"""Bearer JWT verification: HS256 with a local key in development, RS256/ES256 via JWKS.

Claims: `sub`, `workspace` (a slug), `roles`, `aud`, `exp`. The workspace comes from the token
only, never from the request, so another workspace's resources are simply not found.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import jwt

from shared.config import Settings
from shared.errors import Forbidden, Unauthorized

ROLES = frozenset(
    {"manager", "planner", "editor", "designer", "video", "reviewer", "analyst", "community"}
)
WORKSPACE_RE = re.compile(r"^[a-z0-9-]{1,64}$")


@dataclass(frozen=True)
class Principal:
    sub: str
    workspace_id: str
    roles: frozenset[str]
    expires_at: float

    def has_any(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def require(self, *roles: str) -> None:
        if not self.has_any(*roles):
            raise Forbidden(f"this needs one of the roles: {', '.join(sorted(roles))}")


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._jwks: jwt.PyJWKClient | None = (
            jwt.PyJWKClient(settings.jwks_url, cache_keys=True) if settings.jwks_url else None
        )
        self._cache: dict[str, Principal] = {}

    def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None and cached.expires_at > time.time():
            return cached
        principal = self._decode(token)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = principal
        return principal

    def _decode(self, token: str) -> Principal:
        try:
            if self._jwks is not None:
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = ["RS256", "ES256"]
            else:
                key, algorithms = self.settings.jwt_secret, ["HS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("the token is not meant for this audience") from None
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        workspace = claims.get("workspace")
        if not isinstance(workspace, str) or not WORKSPACE_RE.match(workspace):
            raise Unauthorized("the token names no valid workspace ([a-z0-9-]{1,64})")
        roles = claims.get("roles", [])
        if isinstance(roles, str):
            roles = [r for r in roles.split(",") if r]
        if not isinstance(roles, list):
            raise Unauthorized("roles must be a list")
        return Principal(
            sub=str(claims["sub"]),
            workspace_id=workspace,
            roles=frozenset(r for r in roles if r in ROLES),
            expires_at=float(claims["exp"]),
        )


def mint_token(
    settings: Settings,
    *,
    workspace: str,
    roles: list[str],
    sub: str,
    ttl_s: int = 12 * 3600,
) -> str:
    """A development token signed with the local HS256 key."""
    if not WORKSPACE_RE.match(workspace):
        raise ValueError("workspace must match [a-z0-9-]{1,64}")
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; known: {sorted(ROLES)}")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "workspace": workspace,
        "roles": roles,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_s,
    }
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
