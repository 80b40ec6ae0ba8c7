"""Who may post: webhook signatures or URL tokens, and the logging API's bearer tokens, per organisation."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from uuid import UUID


@dataclass(frozen=True, slots=True, repr=False)
class OrgSecrets:
    meta_app_secret: str | None = None
    aisensy_secret: str | None = None
    url_token: str | None = None
    verify_token: str | None = None
    api_token: str | None = None

    def over(self, fallback: OrgSecrets) -> OrgSecrets:
        """These secrets, with `fallback`'s where these have none; webhook credentials come as a set, so
        an organisation with any of its own never accepts the global ones."""
        mine = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}
        if self.webhook_secured:
            mine |= {name: getattr(self, name) for name in _WEBHOOK_CREDENTIALS}
        return replace(fallback, **mine)

    @property
    def webhook_secured(self) -> bool:
        return bool(self.meta_app_secret or self.aisensy_secret or self.url_token)

    def __repr__(self) -> str:
        """Which secrets are set, never their values."""
        held = [f.name for f in fields(self) if getattr(self, f.name)]
        return f"OrgSecrets(set: {', '.join(held) or 'none'})"


_WEBHOOK_CREDENTIALS = ("meta_app_secret", "aisensy_secret", "url_token")


def org_url_token(master: str, org_id: UUID) -> str:
    """The `?token=` of one organisation derived from the global WEBHOOK_URL_TOKEN, so no two share one."""
    return hmac.new(master.encode(), str(org_id).encode(), hashlib.sha256).hexdigest()[:32]


def same(given: str | None, expected: str | None) -> bool:
    """Constant-time equality; False when either side is missing."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_allowed(
    secrets: OrgSecrets, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], allow_unsigned: bool
) -> bool:
    """True when the post carries a valid signature or URL token, or no secret is configured and
    unsigned posts are allowed."""
    if not secrets.webhook_secured:
        return allow_unsigned
    meta_sig = headers.get("X-Hub-Signature-256")
    if secrets.meta_app_secret and meta_sig:
        return same(meta_sig, "sha256=" + _hmac_hex(secrets.meta_app_secret, body))
    aisensy_sig = headers.get("X-AiSensy-Signature")
    if secrets.aisensy_secret and aisensy_sig:
        return same(aisensy_sig.lower(), _hmac_hex(secrets.aisensy_secret, body))
    return same(query.get("token"), secrets.url_token)


def api_allowed(secrets: OrgSecrets, authorization: str | None, open_api: bool) -> bool:
    """True for `Authorization: Bearer <token>` with the organisation's (or the global) API token."""
    if secrets.api_token is None:
        return open_api
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and same(token.strip(), secrets.api_token)


class SecretBook:
    """The last snapshot of org_secrets, over the environment's global secrets."""

    def __init__(self, fallback: OrgSecrets) -> None:
        self._fallback = fallback
        self._orgs: dict[UUID, OrgSecrets] | None = None

    @property
    def loaded(self) -> bool:
        return self._orgs is not None

    def replace(self, orgs: dict[UUID, OrgSecrets]) -> None:
        self._orgs = orgs

    def __len__(self) -> int:
        return len(self._orgs or {})

    def for_org(self, org_id: UUID) -> OrgSecrets:
        fallback = self._fallback
        if fallback.url_token:
            fallback = replace(fallback, url_token=org_url_token(fallback.url_token, org_id))
        own = (self._orgs or {}).get(org_id)
        return own.over(fallback) if own else fallback
