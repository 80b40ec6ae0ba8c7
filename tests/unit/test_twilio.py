"""Twilio's form-encoded callbacks and its request signature, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from bluetick.auth import OrgSecrets, form_fields, twilio_allowed, twilio_signature, webhook_allowed
from bluetick.events import Direction
from bluetick.payloads import parse_form
from tests.twilio_callbacks import SID
from tests.twilio_callbacks import callback as twilio_callback

ORG = uuid.UUID("00000000-0000-4000-8000-000000000001")
AT = datetime(2024, 10, 3, 10, 30, tzinfo=UTC)


def callback(status: str, **extra: str) -> list[tuple[str, str]]:
    """The callback's fields in the order a parsed form gives them."""
    return list(twilio_callback(status, **extra).items())


@pytest.mark.parametrize(
    ("twilio_status", "stored"),
    [
        ("queued", "queued"),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("read", "read"),
        ("failed", "failed"),
        ("undelivered", "failed"),
    ],
)
def test_every_message_status_becomes_its_stage_at_the_time_received(twilio_status: str, stored: str):
    parsed = parse_form(ORG, callback(twilio_status), AT)
    assert parsed.format == "twilio" and parsed.complete and not parsed.messages
    (event,) = parsed.statuses
    assert (event.bsp_msg_id, event.status, event.ts, event.failed_reason) == (SID, stored, AT, None)


def test_a_callback_without_a_received_time_takes_now():
    before = datetime.now(UTC).replace(microsecond=0)  # a received time is kept to the whole second
    (event,) = parse_form(ORG, callback("delivered")).statuses
    assert before <= event.ts <= datetime.now(UTC)


def test_undelivered_with_an_error_code_names_it_as_the_reason():
    form = callback("undelivered", ErrorCode="63016", ErrorMessage="Outside the allowed window")
    (event,) = parse_form(ORG, form, AT).statuses
    assert (event.status, event.failed_reason) == ("failed", "Error 63016: Outside the allowed window")
    (event,) = parse_form(ORG, callback("failed", ErrorCode="30008"), AT).statuses
    assert event.failed_reason == "Error 30008"


def test_an_error_code_on_a_delivered_status_is_no_reason():
    (event,) = parse_form(ORG, callback("delivered", ErrorCode="30008"), AT).statuses
    assert event.failed_reason is None


def test_an_incoming_whatsapp_message_is_inbound_with_the_whatsapp_prefix_dropped():
    form = [
        ("SmsMessageSid", "SM8d4fb7e1f0b5c2f7a9e4b1d2c3a4f5e6"),
        ("NumMedia", "0"),
        ("ProfileName", "Ana"),
        ("MessageType", "text"),
        ("SmsSid", "SM8d4fb7e1f0b5c2f7a9e4b1d2c3a4f5e6"),
        ("WaId", "14155550123"),
        ("SmsStatus", "received"),
        ("Body", "Is my order on its way?"),
        ("To", "whatsapp:+14155238886"),
        ("NumSegments", "1"),
        ("MessageSid", "SM8d4fb7e1f0b5c2f7a9e4b1d2c3a4f5e6"),
        ("AccountSid", "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
        ("From", "whatsapp:+14155550123"),
        ("ApiVersion", "2010-04-01"),
    ]
    parsed = parse_form(ORG, form, AT)
    assert parsed.complete and not parsed.statuses
    (message,) = parsed.messages
    assert message.direction is Direction.INBOUND
    assert (message.from_phone, message.to_phone) == ("+14155550123", "+14155238886")
    assert (message.body, message.msg_kind, message.sent_at) == ("Is my order on its way?", "TEXT", AT)


@pytest.mark.parametrize("form", [callback("sent", MessageSid="S" * 300), callback("Not a status!")])
def test_a_callback_with_an_unreadable_sid_or_status_is_skipped_and_named(form: list[tuple[str, str]]):
    parsed = parse_form(ORG, form, AT)
    assert parsed.format == "twilio" and parsed.empty
    assert len(parsed.errors) == 1 and not parsed.complete


def test_a_form_of_no_known_bsp_is_unknown():
    # A form with MessageSid and MessageStatus but no AccountSid is Twilio-compatible (issue 23): read as Twilio.
    for form in ([], [("hello", "world")], [("MessageStatus", "sent")], [("MessageSid", SID)]):
        parsed = parse_form(ORG, form, AT)
        assert parsed.format == "unknown" and parsed.empty and not parsed.complete


# Twilio's documented example: this URL, these POST fields and auth token 12345 give this signature.
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+12349013030"),
    ("Digits", "1234"),
    ("From", "+12349013030"),
    ("To", "+18005551212"),
]
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_the_signature_matches_twilios_documented_example_in_any_field_order():
    assert twilio_signature("12345", DOC_URL, DOC_PARAMS) == DOC_SIGNATURE
    assert twilio_allowed("12345", DOC_URL, reversed(DOC_PARAMS), DOC_SIGNATURE)


def test_the_signature_holds_with_or_without_the_default_port():
    assert twilio_allowed("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_SIGNATURE)
    signed_with_port = twilio_signature("12345", "http://example.com:8080/hook", DOC_PARAMS)
    assert twilio_allowed("12345", "http://example.com:8080/hook", DOC_PARAMS, signed_with_port)
    assert not twilio_allowed("12345", "http://example.com/hook", DOC_PARAMS, signed_with_port)


@pytest.mark.parametrize(
    ("token", "url", "params"),
    [
        ("54321", DOC_URL, DOC_PARAMS),
        ("12345", "https://mycompany.com/myapp.php?foo=1&bar=3", DOC_PARAMS),
        ("12345", "http://mycompany.com/myapp.php?foo=1&bar=2", DOC_PARAMS),
        ("12345", DOC_URL, [*DOC_PARAMS[:-1], ("To", "+18005551213")]),
        ("12345", DOC_URL, DOC_PARAMS[:-1]),
        ("12345", DOC_URL, [*DOC_PARAMS, ("Extra", "")]),
    ],
)
def test_a_tampered_url_field_or_token_fails_the_signature(token: str, url: str, params: list[tuple[str, str]]):
    assert not twilio_allowed(token, url, params, DOC_SIGNATURE)


def test_a_repeated_field_signs_each_of_its_values_sorted():
    params = [("MediaUrl", "b"), ("MediaUrl", "a")]
    assert twilio_signature("t", "https://h/p", params) == twilio_signature("t", "https://h/p", params[::-1])


def test_an_organisation_with_a_twilio_token_needs_a_valid_twilio_signature():
    body = urlencode(callback("read")).encode()
    url = f"https://bluetick.example.com/webhooks/{ORG}"
    secrets = OrgSecrets(twilio_auth_token="org-token")
    good = {"X-Twilio-Signature": twilio_signature("org-token", url, form_fields(body))}
    assert webhook_allowed(secrets, body, good, {}, allow_unsigned=False, url=url)
    assert not webhook_allowed(secrets, body + b"&x=1", good, {}, allow_unsigned=True, url=url)
    assert not webhook_allowed(secrets, body, good, {}, allow_unsigned=True, url=url + "?a=1")
    assert not webhook_allowed(secrets, body, {}, {}, allow_unsigned=True, url=url)


def test_an_organisations_twilio_token_replaces_every_global_webhook_secret():
    own = OrgSecrets(twilio_auth_token="org-token").over(OrgSecrets(meta_app_secret="global", url_token="tok"))
    assert own.twilio_auth_token == "org-token"
    assert own.meta_app_secret is None and own.url_token is None
    fallback = OrgSecrets(api_token="api").over(OrgSecrets(twilio_auth_token="global-twilio"))
    assert fallback.twilio_auth_token == "global-twilio" and fallback.webhook_secured
