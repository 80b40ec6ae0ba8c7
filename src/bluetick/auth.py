"""Who may post: webhook signatures or URL tokens, and the logging API's bearer tokens, per organisation."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from urllib.parse import parse_qsl, urlsplit
from uuid import UUID


@dataclass(frozen=True, slots=True, repr=False)
class OrgSecrets:
    meta_app_secret: str | None = None
    aisensy_secret: str | None = None
    url_token: str | None = None
    verify_token: str | None = None
    api_token: str | None = None
    twilio_auth_token: str | None = None

    def over(self, fallback: OrgSecrets) -> OrgSecrets:
        """These secrets, with `fallback`'s where these have none; webhook credentials come as a set, so
        an organisation with any of its own never accepts the global ones."""
        mine = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}
        if self.webhook_secured:
            mine |= {name: getattr(self, name) for name in _WEBHOOK_CREDENTIALS}
        return replace(fallback, **mine)

    @property
    def webhook_secured(self) -> bool:
        return any(getattr(self, name) for name in _WEBHOOK_CREDENTIALS)

    def __repr__(self) -> str:
        """Which secrets are set, never their values."""
        held = [f.name for f in fields(self) if getattr(self, f.name)]
        return f"OrgSecrets(set: {', '.join(held) or 'none'})"


_WEBHOOK_CREDENTIALS = ("meta_app_secret", "aisensy_secret", "url_token", "twilio_auth_token")


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


def form_fields(body: bytes) -> list[tuple[str, str]]:
    """The fields of an `application/x-www-form-urlencoded` body, in order, blank values kept."""
    return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's X-Twilio-Signature: base64 HMAC-SHA1 of the URL followed by each POST field's name and value,
    sorted by name (a repeated name's distinct values sorted too)."""
    signed = url + "".join(name + value for name, value in sorted(set(params)))
    return base64.b64encode(hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def twilio_allowed(auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str) -> bool:
    """Whether `signature` signs `url` and `params`; Twilio signs a URL sometimes with its default port and
    sometimes without, so both are tried."""
    params = list(params)
    return any(same(signature, twilio_signature(auth_token, form, params)) for form in _port_forms(url))


def _port_forms(url: str) -> tuple[str, ...]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a Host header with a port that is not a number: no signature can be for it
        return (url,)
    if port:
        return url, parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]).geturl()
    default = 443 if parts.scheme == "https" else 80
    return url, parts._replace(netloc=f"{parts.netloc}:{default}").geturl()


def webhook_allowed(
    secrets: OrgSecrets,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    allow_unsigned: bool,
    url: str | None = None,
) -> bool:
    """True when the post carries a valid signature or URL token, or no secret is configured and
    unsigned posts are allowed. `url` is the full URL the request was sent to (Twilio signs it)."""
    if not secrets.webhook_secured:
        return allow_unsigned
    twilio_sig = headers.get("X-Twilio-Signature")
    if secrets.twilio_auth_token and twilio_sig and url is not None:
        return twilio_allowed(secrets.twilio_auth_token, url, form_fields(body), twilio_sig)
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
