"""The HTTP contract: the OpenAPI 3.1 document of every route, declared here once and served at `GET /openapi.json`.

This module is the one source of the document; nothing else describes the routes' shapes for machines. It is kept
in step two ways: `mismatches` compares it with an application's router (tests/unit/test_openapi.py: no route
without an operation, no operation without a route, each operationId the route's name), and Schemathesis runs every
operation against the live service on Postgres, checking each answer against it
(tests/integration/test_openapi_schemathesis.py). Limits are the handlers' own constants, imported, not copied.

Every refusal has one JSON shape, `Error` ({"error": message} and, for some, `limit` or `field`: refusals.py); a
route's 2xx shapes are its own. aiohttp answers HEAD for each GET as that GET without a body (the link route counts
no click for it); an unknown path or method is aiohttp's plain-text 404 or 405, no operation's.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from importlib import metadata
from typing import Any

from aiohttp import web

from bluetick import campaigns_api, feed_api, jsoncodec, links_api, subscriptions_api
from bluetick.payloads.common import MAX_ANSWER_ERRORS, MAX_ID_CHARS, MAX_LABEL_CHARS, MAX_TEXT_CHARS
from bluetick.report.window import DEFAULT_DAYS, MAX_DAYS

__all__ = ["document", "mismatches", "operations_of", "routes_of", "serve_openapi"]

Schema = dict[str, Any]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
WEBHOOK_FORMATS = ["meta", "gupshup_v3", "flat", "gupshup", "aisensy", "wati", "interakt", "twilio", "unknown"]
TIME = {"type": "string", "format": "date-time"}
TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
TEXT_OR_NULL = {"type": ["string", "null"]}
COUNT = {"type": "integer", "minimum": 0}
ORG_ID = {
    "name": "org_id",
    "in": "path",
    "required": True,
    "description": "The organisation's id, a UUID; any other text is answered 404 (`unknown organisation`).",
    "schema": {"type": "string", "format": "uuid"},
}
SUBSCRIPTION_ID = {
    "name": "subscription_id",
    "in": "path",
    "required": True,
    "description": "The subscription's id (a UUID); another organisation's, or not a UUID, is 404.",
    "schema": {"type": "string", "format": "uuid"},
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: Schema, **extra: Any) -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


def _refused(description: str) -> Schema:
    """An answer with the one error shape."""
    return _json(description, _ref("Error"))


BAD_HTTP = (
    "A request aiohttp cannot parse (a control character in a header, a request line over 8 kB): "
    "`malformed HTTP request`."
)
INTERNAL = "Cannot answer now: `temporarily unavailable, retry later` (an unexpected error, logged; a BSP retries it)"
NOT_READY = "`starting: the database is not reachable yet, retry later` while the service starts"
BODY_LIMITS = {
    "408": _refused("The body did not arrive within CLIENT_TIMEOUT_S (`client_timeout`); the connection is closed."),
}


def _too_large(limit: str) -> Schema:
    return _refused(f"The body is over {limit} (`body too large`, with `limit` when the declared length said so).")


def _operation(
    name: str,
    summary: str,
    tag: str,
    responses: dict[str, Schema],
    *,
    api: bool = True,
    org: bool = True,
    description: str | None = None,
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
) -> Schema:
    """One operation, its operationId the route's name. Each gets the answers every route can give: 400 for a
    request aiohttp cannot parse, 503 when it cannot answer now; an organisation's route 404 for an org_id that is
    not a UUID; an API route 401 without the organisation's bearer token."""
    answers = dict(responses)
    if "400" not in answers:
        answers["400"] = _refused(BAD_HTTP)
    if api:
        answers.setdefault("401", _refused("No `Authorization: Bearer <token>` with the organisation's API token."))
    if org:
        answers.setdefault("404", _refused("The org_id is not a UUID: `unknown organisation`."))
    answers.setdefault("503", _refused(INTERNAL + (f"; {NOT_READY}." if org else ".")))
    op: Schema = {"operationId": name, "summary": summary, "tags": [tag]}
    if description:
        op["description"] = description
    params = ([ORG_ID] if org else []) + (parameters or [])
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = body
    op["responses"] = dict(sorted(answers.items()))
    op["security"] = [{"apiToken": []}] if api else []
    return op


def _body(schema: Schema, description: str, example: Any = None) -> Schema:
    media: Schema = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"required": True, "description": description, "content": {JSON: media}}


def _query(name: str, schema: Schema, description: str, **extra: Any) -> Schema:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema, **extra}


def _path(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def _header(name: str, description: str) -> Schema:
    return {"name": name, "in": "header", "required": False, "description": description, "schema": {"type": "string"}}


def _object(properties: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    """A closed object: exactly these properties, `required` ones always there (all of them by default)."""
    names = list(properties) if required is None else required
    return {
        "type": "object",
        "properties": properties,
        "required": names,
        "additionalProperties": False,
        **extra,
    }


def _schemas() -> dict[str, Schema]:
    event_type = {"type": "string", "enum": list(feed_api.EVENT_TYPES)}
    message_row = _object(
        {
            "id": {"type": "string", "format": "uuid"},
            "org_id": {"type": "string", "format": "uuid"},
            "bsp_msg_id": {"type": "string"},
            "direction": {"type": "string", "enum": ["OUTBOUND", "INBOUND"]},
            "msg_kind": TEXT_OR_NULL,
            "to_phone": TEXT_OR_NULL,
            "from_phone": TEXT_OR_NULL,
            "body": TEXT_OR_NULL,
            "status": {
                "type": ["string", "null"],
                "description": "The highest status reached: SENT, DELIVERED, READ, FAILED (or INBOUND's RECEIVED, ...)",
            },
            "whatsapp_status": {
                "type": "object",
                "description": "Each status seen, with the BSP's own time of it (UTC): sent, delivered, read, ...",
            },
            "failed_reason": TEXT_OR_NULL,
            "metadata": {"type": "object"},
            "created_at": TIME,
            "updated_at": TIME,
            "customer_user_id": TEXT_OR_NULL,
            "customer_parent_user_id": TEXT_OR_NULL,
            "ref_bsp_msg_id": TEXT_OR_NULL,
            "billable": {"type": ["boolean", "null"]},
            "pricing_model": TEXT_OR_NULL,
            "pricing_category": TEXT_OR_NULL,
            "pricing_type": TEXT_OR_NULL,
            "pricing_at": TIME_OR_NULL,
            "conversation_id": TEXT_OR_NULL,
            "conversation_origin": TEXT_OR_NULL,
            "conversation_expires_at": TIME_OR_NULL,
            "erased_at": TIME_OR_NULL,
            "group_id": TEXT_OR_NULL,
            "template_name": TEXT_OR_NULL,
            "template_language": TEXT_OR_NULL,
            "template_category": TEXT_OR_NULL,
            "campaign_id": TEXT_OR_NULL,
            "campaign_name": TEXT_OR_NULL,
        },
        description="A stored row of message_logs, as the logging call and the lookup answer it.",
    )
    label = {"type": "string", "minLength": 1, "maxLength": MAX_LABEL_CHARS}
    identifier = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS}
    log_request = {
        "type": "object",
        "description": (
            "One message the agent sent or received. The customer is `to_phone` and/or `to_user_id` (OUTBOUND) or "
            "`from_phone` and/or `from_user_id` (INBOUND); a user id is WhatsApp's business-scoped user id "
            "(BSUID, `IN.2081978709342942`). A repeat answers the stored row unchanged."
        ),
        "properties": {
            "bsp_msg_id": identifier,
            "direction": {"type": "string", "enum": ["OUTBOUND", "INBOUND"], "default": "OUTBOUND"},
            "to_phone": {"type": "string", "description": "E.164 or any form the parsers read, e.g. +919876543210"},
            "to_user_id": {"type": "string"},
            "from_phone": {"type": "string"},
            "from_user_id": {"type": "string"},
            "msg_kind": {"type": "string"},
            "body": {"type": "string", "maxLength": MAX_TEXT_CHARS},
            "sent_at": {
                "type": ["integer", "number", "string"],
                "description": "Unix seconds (or milliseconds) or ISO 8601; none: now",
            },
            "metadata": {"type": "object"},
            "ref_bsp_msg_id": identifier,
            "template": {
                "type": "object",
                "properties": {"name": label, "language": label, "category": label},
                "required": ["name"],
            },
            "campaign": {
                "oneOf": [
                    label,
                    {"type": "object", "properties": {"id": label, "name": label}, "required": ["id"]},
                ]
            },
        },
        "required": ["bsp_msg_id"],
    }
    webhook_answer = _object(
        {
            "stored": {"type": "boolean", "description": "committed before this answer (durable mode)"},
            "queued": {"type": "boolean", "description": "accepted to be committed after it (immediate mode)"},
            "format": {"type": "string", "enum": WEBHOOK_FORMATS},
            "statuses": COUNT,
            "messages": COUNT,
            "facts": COUNT,
            "skipped": {
                "type": "array",
                "items": {"type": "string"},
                "maxItems": MAX_ANSWER_ERRORS,
                "description": "the items skipped, each with why (the first ones)",
            },
            "skipped_count": COUNT,
            "kept": {
                "oneOf": [{"type": "boolean"}, {"const": "refused"}],
                "description": "true: the body is kept in the inbox (not read completely); `refused`: the database "
                "refused its events and the body is kept in their place",
            },
        },
        required=["stored", "format", "statuses", "messages", "facts", "skipped", "skipped_count", "kept"],
        description="A webhook's answer. With no event in it and nothing kept: `stored` false and no `queued`.",
    )
    event = _object(
        {
            "id": {"type": "string"},
            "type": event_type,
            "created_at": TIME,
            "bsp_msg_id": TEXT_OR_NULL,
            "version": {"type": ["integer", "null"], "description": "grows with each event of one message"},
            "data": {"type": "object"},
            "cursor": {"type": "string", "description": "this event's position: pass it as `after`"},
        }
    )
    subscription_state = _object(
        {
            "id": {"type": "string", "format": "uuid"},
            "url": {"type": "string"},
            "events": {"type": "array", "items": event_type},
            "created_at": TIME,
            "last_success_at": TIME_OR_NULL,
            "failing_since": TIME_OR_NULL,
            "attempts": COUNT,
            "next_attempt_at": TIME_OR_NULL,
            "last_error": TEXT_OR_NULL,
            "disabled": {"type": "boolean"},
            "disabled_at": TIME_OR_NULL,
            "disabled_reason": TEXT_OR_NULL,
            "previous_secret_until": TIME_OR_NULL,
            "backlog": COUNT,
            "backlog_capped_at": COUNT,
        },
        description="A subscription with its delivery state, never its secret.",
    )
    any_rows = {"type": "array", "items": {"type": "object"}}
    return {
        "Error": _object(
            {
                "error": {"type": "string", "description": "what is wrong, or why it cannot be done now"},
                "limit": {"type": "integer", "description": "the body limit in bytes (413)"},
                "field": {"type": "string", "description": "the field that is wrong (400 of a tracked link)"},
            },
            required=["error"],
            description="Every refusal and every 503: one shape.",
        ),
        "MessageRow": message_row,
        "LogMessage": log_request,
        "WebhookAnswer": webhook_answer,
        "WebhookJson": {
            "description": (
                "Any JSON body: the format is detected by its shape (docs/formats.md). A body of no known shape, or "
                "with items not read, is answered 200 and kept in the inbox, byte for byte. A body of any "
                "Content-Type but the form one is read as JSON."
            ),
            "anyOf": [
                _ref("MetaWebhook"),
                _ref("OnPremiseWebhook"),
                _ref("GupshupWebhook"),
                _ref("AiSensyWebhook"),
                _ref("WatiWebhook"),
                _ref("InteraktWebhook"),
                {"description": "any other JSON: kept in the inbox"},
            ],
        },
        "MetaWebhook": {
            "type": "object",
            "description": "Meta's Cloud API (360dialog cloud, Gupshup v3 with `gs_app_id`): `object` and `entry`.",
            "properties": {
                "object": {"type": "string", "example": "whatsapp_business_account"},
                "entry": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "changes": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "field": {"type": "string", "example": "messages"},
                                        "value": {
                                            "type": "object",
                                            "properties": {
                                                "statuses": {"type": "array", "items": _ref("MetaStatus")},
                                                "messages": {"type": "array", "items": {"type": "object"}},
                                                "contacts": {"type": "array", "items": {"type": "object"}},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
            "required": ["object", "entry"],
        },
        "MetaStatus": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "status": {"type": "string", "example": "delivered"},
                "timestamp": {"type": "string", "example": "1727951405"},
                "recipient_id": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object"}},
                "pricing": {"type": "object"},
                "conversation": {"type": "object"},
            },
            "required": ["id", "status"],
        },
        "OnPremiseWebhook": {
            "type": "object",
            "description": "360dialog On-Premise and the seeds' flat shape: top-level `statuses` or `messages`.",
            "properties": {
                "statuses": {"type": "array", "items": _ref("MetaStatus")},
                "messages": {"type": "array", "items": {"type": "object"}},
                "contacts": {"type": "array", "items": {"type": "object"}},
            },
        },
        "GupshupWebhook": {
            "type": "object",
            "description": "Gupshup v2: `app`, `type` (`message-event`, `message`) and `payload`.",
            "properties": {"app": {"type": "string"}, "type": {"type": "string"}, "payload": {"type": "object"}},
            "required": ["app", "type", "payload"],
        },
        "AiSensyWebhook": {
            "type": "object",
            "description": "AiSensy: `topic` (`message.status.updated`, `message.sender.user`, ...) and `data`.",
            "properties": {"topic": {"type": "string"}, "data": {"type": "object"}, "event_id": {"type": "string"}},
            "required": ["topic", "data"],
        },
        "WatiWebhook": {
            "type": "object",
            "description": "Wati: `eventType` (`sentMessageDELIVERED_v2`, `message`, ...).",
            "properties": {
                "eventType": {"type": "string"},
                "localMessageId": {"type": "string"},
                "whatsappMessageId": {"type": "string"},
            },
            "required": ["eventType"],
        },
        "InteraktWebhook": {
            "type": "object",
            "description": "Interakt: `type` (`message_api_read`, `message_received`, ...) and `data`.",
            "properties": {"type": {"type": "string"}, "data": {"type": "object"}},
            "required": ["type", "data"],
        },
        "TwilioForm": {
            "type": "object",
            "description": (
                "Twilio's status callbacks and incoming messages (and Twilio-compatible senders): `MessageSid` with an "
                "`AccountSid` (AC...) or a `MessageStatus` / `SmsStatus`. A form of no known BSP is answered 200 "
                "and kept in the inbox."
            ),
            "properties": {
                "AccountSid": {"type": "string"},
                "MessageSid": {"type": "string"},
                "MessageStatus": {"type": "string"},
                "SmsStatus": {"type": "string"},
                "ErrorCode": {"type": "string"},
                "ErrorMessage": {"type": "string"},
                "From": {"type": "string"},
                "To": {"type": "string"},
                "Body": {"type": "string"},
                "ExternalUserId": {"type": "string"},
            },
            "additionalProperties": {"type": "string"},
        },
        "Event": event,
        "EventsPage": _object(
            {"events": {"type": "array", "items": _ref("Event")}, "next": {"type": "string"}},
            description="Oldest first; pass `next` back as `after` to read on.",
        ),
        "FeedSwitch": _object({"enabled": {"type": "boolean"}}),
        "NewSubscription": _object(
            {
                "url": {"type": "string", "maxLength": subscriptions_api.MAX_URL},
                "events": {"type": "array", "items": event_type, "minItems": 1},
            }
        ),
        "CreatedSubscription": _object(
            {
                "id": {"type": "string", "format": "uuid"},
                "url": {"type": "string"},
                "events": {"type": "array", "items": event_type},
                "secret": {"type": "string", "pattern": "^whsec_", "description": "answered this once"},
            }
        ),
        "SubscriptionState": subscription_state,
        "Subscriptions": _object({"subscriptions": {"type": "array", "items": _ref("SubscriptionState")}}),
        "RotatedSecret": _object(
            {
                "secret": {"type": "string", "pattern": "^whsec_"},
                "previous_secret_for_s": {"type": "integer", "description": "the old secret also signs this long"},
            }
        ),
        "Resume": _object(
            {"after": {"type": "string", "description": "a feed cursor to deliver after (none: where it stopped)"}},
            required=[],
        ),
        "NewLink": {
            "type": "object",
            "properties": {
                "bsp_msg_id": identifier,
                "url": {
                    "type": "string",
                    "maxLength": links_api.MAX_URL_CHARS,
                    "description": "an absolute http or https URL of printable ASCII",
                },
            },
            "required": ["bsp_msg_id", "url"],
        },
        "Link": _object(
            {
                "url": {"type": "string", "description": "<PUBLIC_URL>/l/<token>"},
                "token": {"type": "string", "pattern": "^[A-Za-z0-9_-]{22,64}$"},
            }
        ),
        "Erasure": _object(
            {
                "rows": COUNT,
                "parked": COUNT,
                "inbox": COUNT,
                "erasure_id": {"type": "integer"},
                "customer_hash": {"type": "string"},
                "erased_at": TIME,
                "recorded": {"type": "boolean"},
                "preferences": COUNT,
                "group_receipts": COUNT,
                "links": COUNT,
                "events": COUNT,
                "tracked_links": COUNT,
            },
            description="What was erased, and the erasure's record (the customer only as a salted hash).",
        ),
        "CustomerExport": _object(
            {
                "messages": {"type": "array", "items": _ref("MessageRow")},
                "parked": any_rows,
                "inbox": any_rows,
                "preferences": any_rows,
                "group_receipts": any_rows,
                "links": any_rows,
                "events": any_rows,
                "tracked_links": any_rows,
            },
            description="Everything stored about one customer of the organisation, messages in time order.",
        ),
        "Health": _object({"status": {"const": "ok"}}),
        "Readiness": _object(
            {
                "ready": {"type": "boolean"},
                "database": {"type": "boolean"},
                "queue_depth": COUNT,
                "failed_tasks": {"type": "array", "items": {"type": "string"}},
            },
            required=["ready", "database", "queue_depth"],
        ),
    }


def _paths() -> dict[str, Schema]:
    too_large = _too_large("MAX_BODY_BYTES")
    customer = _path(
        "customer",
        {"type": "string", "minLength": 1},
        "A phone number (E.164, like +919876543210, or any form the parsers read) or a BSUID "
        "(like IN.2081978709342942).",
    )
    customer_bad = _refused("The customer is neither a phone number nor a BSUID (`bad_customer`).")
    return {
        "/webhooks/{org_id}": {
            "post": _operation(
                "receive_webhook",
                "A BSP's webhook",
                "webhooks",
                {
                    "200": _json(
                        "Stored (durable mode), queued (immediate mode), kept in the inbox, or nothing in it to store.",
                        _ref("WebhookAnswer"),
                    ),
                    "400": _refused(
                        "The body is not JSON (`body is not valid JSON`), does not decode as its Content-Encoding "
                        "(`body could not be decoded`), or the request cannot be parsed. " + BAD_HTTP
                    ),
                    "401": _refused("A missing or wrong signature or URL token (`unauthorized`)."),
                    "413": _too_large("MAX_BODY_BYTES, or holds more events than QUEUE_MAX (`split it`)"),
                    "422": _refused("The database refused this payload's data and none of it could be kept."),
                    "503": _refused(
                        "Cannot take the data now (queue full, database not committing within ACK_TIMEOUT_MS), "
                        f"{NOT_READY}, or {INTERNAL}: the BSP retries."
                    ),
                    **BODY_LIMITS,
                },
                api=False,
                description=(
                    "Any BSP's status or message webhook. Authenticated by the organisation's signature "
                    "(`X-Hub-Signature-256`, `X-AiSensy-Signature`, `X-Twilio-Signature`) or URL `token`, or "
                    "unsigned where no secret is set and unsigned posts are allowed."
                ),
                parameters=[
                    _query("token", {"type": "string"}, "The organisation's URL token (WEBHOOK_URL_TOKEN)."),
                    _header("X-Hub-Signature-256", "Meta's `sha256=<hex HMAC of the body>` with the app secret."),
                    _header("X-AiSensy-Signature", "AiSensy's hex HMAC-SHA256 of the body."),
                    _header("X-Twilio-Signature", "Twilio's signature of the URL and the form's fields."),
                ],
                body={
                    "required": True,
                    "description": "A JSON body of any format bluetick reads, or Twilio's form.",
                    "content": {
                        JSON: {
                            "schema": _ref("WebhookJson"),
                            "example": {
                                "object": "whatsapp_business_account",
                                "entry": [
                                    {
                                        "changes": [
                                            {
                                                "field": "messages",
                                                "value": {
                                                    "statuses": [
                                                        {
                                                            "id": "wamid.DEMO1",
                                                            "status": "delivered",
                                                            "timestamp": "1727951405",
                                                            "recipient_id": "919876543210",
                                                        }
                                                    ]
                                                },
                                            }
                                        ]
                                    }
                                ],
                            },
                        },
                        FORM: {
                            "schema": _ref("TwilioForm"),
                            "example": {
                                "AccountSid": "AC0123456789abcdef0123456789abcdef",
                                "MessageSid": "SM1",
                                "MessageStatus": "delivered",
                                "To": "whatsapp:+919876543210",
                            },
                        },
                    },
                },
            ),
            "get": _operation(
                "verify_subscription",
                "Meta's subscription handshake",
                "webhooks",
                {
                    "200": {
                        "description": "`hub.challenge`, echoed.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "403": _refused("Not `hub.mode=subscribe` with the organisation's verify token."),
                },
                api=False,
                parameters=[
                    _query("hub.mode", {"type": "string", "example": "subscribe"}, "`subscribe`"),
                    _query("hub.verify_token", {"type": "string"}, "WEBHOOK_VERIFY_TOKEN, or the organisation's"),
                    _query("hub.challenge", {"type": "string"}, "echoed back"),
                ],
            ),
        },
        "/v1/orgs/{org_id}/messages": {
            "post": _operation(
                "log_message",
                "Log one message",
                "messages",
                {
                    "200": _json("The stored row, after the commit.", _ref("MessageRow")),
                    "400": _refused("The body is not JSON. " + BAD_HTTP),
                    "413": too_large,
                    "422": _refused("A field is wrong (named), or the database refused this message's data."),
                    "503": _refused(f"Cannot store now, retry later; {NOT_READY}; or {INTERNAL}."),
                    **BODY_LIMITS,
                },
                body=_body(
                    _ref("LogMessage"),
                    "The message.",
                    {
                        "bsp_msg_id": "wamid.DEMO1",
                        "to_phone": "+919876543210",
                        "msg_kind": "AI_REPLY_FREEFORM",
                        "body": "Your order has shipped",
                        "sent_at": 1727951400,
                    },
                ),
            )
        },
        "/v1/orgs/{org_id}/messages/{bsp_msg_id}": {
            "get": _operation(
                "get_message",
                "Look up one message",
                "messages",
                {
                    "200": _json("The stored row, as the logging call answers it.", _ref("MessageRow")),
                    "400": _refused("The bsp_msg_id is not valid text (a NUL). " + BAD_HTTP),
                    "404": _refused("The org_id is not a UUID, or no message has this bsp_msg_id here."),
                },
                parameters=[_path("bsp_msg_id", {"type": "string", "minLength": 1}, "The BSP's message id.")],
            )
        },
        "/v1/orgs/{org_id}/events/feed": {
            "put": _operation(
                "events_feed",
                "Turn the organisation's event feed on or off",
                "events",
                {
                    "200": _json("Whether the feed is on now.", _ref("FeedSwitch")),
                    "400": _refused('Not JSON, or not {"enabled": true|false}. ' + BAD_HTTP),
                    "413": _too_large("4,096 bytes"),
                    **BODY_LIMITS,
                },
                body=_body(_ref("FeedSwitch"), "On or off.", {"enabled": True}),
            )
        },
        "/v1/orgs/{org_id}/events": {
            "get": _operation(
                "events",
                "A page of the organisation's events, long-polled",
                "events",
                {
                    "200": _json(
                        "The events after `after`, oldest first.",
                        _ref("EventsPage"),
                        headers={
                            "Bluetick-Feed-Wait": {
                                "description": "`listen` (woken by LISTEN/NOTIFY) or `poll` (looks once a second)",
                                "required": True,
                                "schema": {"type": "string", "enum": ["listen", "poll"]},
                            }
                        },
                    ),
                    "400": _refused("A parameter is wrong (named). " + BAD_HTTP),
                    "409": _refused("The event feed is off for this organisation: turn it on first."),
                },
                parameters=[
                    _query(
                        "after",
                        {"type": "string", "pattern": "^[A-Za-z0-9_-]{0,64}$"},
                        "A cursor (`next`, or an event's `cursor`); none or empty: from now on.",
                    ),
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": feed_api.MAX_LIMIT, "default": 100},
                        "At most this many events.",
                    ),
                    _query(
                        "wait",
                        {"type": "integer", "minimum": 0, "maximum": feed_api.MAX_WAIT_S, "default": 0},
                        "Seconds to wait for a first event when there is none.",
                    ),
                    _query(
                        "types",
                        {
                            "type": "array",
                            "items": {"type": "string", "enum": list(feed_api.EVENT_TYPES)},
                            "minItems": 1,
                        },
                        "Only these types, comma-separated.",
                        style="form",
                        explode=False,
                    ),
                ],
            )
        },
        "/v1/orgs/{org_id}/subscriptions": {
            "post": _operation(
                "create_subscription",
                "Register a webhook subscription",
                "subscriptions",
                {
                    "201": _json("Registered; the secret is answered this once.", _ref("CreatedSubscription")),
                    "400": _refused(
                        "Not JSON, an unknown field or event type, or a URL not https or not resolving to public "
                        "addresses only (unless SUBSCRIPTIONS_ALLOW_PRIVATE). " + BAD_HTTP
                    ),
                    "413": _too_large(f"{subscriptions_api.MAX_BODY:,} bytes"),
                    **BODY_LIMITS,
                },
                body=_body(
                    _ref("NewSubscription"),
                    "Where to deliver, and which events.",
                    {"url": "https://agent.example.com/bluetick", "events": ["message.status"]},
                ),
            ),
            "get": _operation(
                "list_subscriptions",
                "The organisation's subscriptions and their delivery state",
                "subscriptions",
                {"200": _json("Oldest first, without secrets.", _ref("Subscriptions"))},
            ),
        },
        "/v1/orgs/{org_id}/subscriptions/{subscription_id}": {
            "delete": _operation(
                "delete_subscription",
                "Delete a subscription",
                "subscriptions",
                {
                    "204": {"description": "Deleted."},
                    "404": _refused("The org_id is not a UUID, or no such subscription in this organisation."),
                },
                parameters=[SUBSCRIPTION_ID],
            )
        },
        "/v1/orgs/{org_id}/subscriptions/{subscription_id}/rotate": {
            "post": _operation(
                "rotate_subscription",
                "A new signing secret",
                "subscriptions",
                {
                    "200": _json("The new secret; deliveries carry both signatures a while.", _ref("RotatedSecret")),
                    "404": _refused("The org_id is not a UUID, or no such subscription in this organisation."),
                },
                parameters=[SUBSCRIPTION_ID],
            )
        },
        "/v1/orgs/{org_id}/subscriptions/{subscription_id}/resume": {
            "post": _operation(
                "resume_subscription",
                "Deliver again, from where it stopped or from a cursor",
                "subscriptions",
                {
                    "200": _json("Enabled again, due now.", _ref("SubscriptionState")),
                    "400": _refused("Not JSON, an unknown field, or `after` not a feed cursor. " + BAD_HTTP),
                    "404": _refused("The org_id is not a UUID, or no such subscription in this organisation."),
                    "413": _too_large(f"{subscriptions_api.MAX_BODY:,} bytes"),
                    **BODY_LIMITS,
                },
                parameters=[SUBSCRIPTION_ID],
                body={
                    "required": False,
                    "description": "Optional: a cursor to deliver after.",
                    "content": {JSON: {"schema": _ref("Resume")}},
                },
            )
        },
        "/v1/orgs/{org_id}/links": {
            "post": _operation(
                "create_link",
                "Make a tracked link",
                "links",
                {
                    "201": _json("The short link to put in the message.", _ref("Link")),
                    "400": _refused(
                        "Not JSON, or a field is wrong: `field` names it (`body`, `bsp_msg_id` or `url`). " + BAD_HTTP
                    ),
                    "413": _too_large("16 kB"),
                    **BODY_LIMITS,
                },
                body=_body(
                    _ref("NewLink"),
                    "The message the link goes in, and where it leads.",
                    {"bsp_msg_id": "wamid.DEMO1", "url": "https://shop.example.com/orders/42"},
                ),
            )
        },
        "/l/{token}": {
            "get": _operation(
                "follow_link",
                "Follow a tracked link",
                "links",
                {
                    "302": {
                        "description": (
                            "To the link's stored URL. A person's click is counted and marks the message `clicked`; "
                            "HEAD and link-preview fetchers count nothing."
                        ),
                        "headers": {
                            "Location": {"required": True, "schema": {"type": "string"}},
                            "Cache-Control": {"required": True, "schema": {"const": "no-store"}},
                        },
                    },
                    "404": _refused("An unknown or forged token (`unknown link`)."),
                    "429": _refused(
                        f"More than {links_api.RATE_PER_MINUTE} requests a minute from this client address."
                    ),
                    "503": _refused(f"Cannot read now, retry later; {NOT_READY}; or {INTERNAL}."),
                },
                api=False,
                org=False,
                parameters=[_path("token", {"type": "string", "minLength": 1}, "The link's token.")],
            )
        },
        "/v1/orgs/{org_id}/customers/{customer}": {
            "get": _operation(
                "export_customer",
                "Everything stored about one customer",
                "customers",
                {"200": _json("The customer's data.", _ref("CustomerExport")), "400": customer_bad},
                parameters=[customer],
            ),
            "delete": _operation(
                "forget_customer",
                "Erase one customer's text and identifiers",
                "customers",
                {"200": _json("What was erased, and the record.", _ref("Erasure")), "400": customer_bad},
                parameters=[customer],
            ),
        },
        "/v1/orgs/{org_id}/report": {
            "get": _operation(
                "org_report",
                "The analyst's report page",
                "analytics",
                {
                    "200": {
                        "description": "One self-contained HTML page (inline SVG, no script).",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    "400": _refused("`days` or `tz` is wrong (named). " + BAD_HTTP),
                },
                parameters=[
                    _query(
                        "days",
                        {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": DEFAULT_DAYS},
                        "UTC days up to today.",
                    ),
                    _query(
                        "tz",
                        {"type": "string", "default": "UTC", "example": "Asia/Kolkata"},
                        "The time zone of the heatmap's hours and weekdays.",
                    ),
                ],
            )
        },
        "/v1/orgs/{org_id}/campaigns/{campaign}/recipients.csv": {
            "get": _operation(
                "campaign_recipients",
                "A campaign's recipients as CSV",
                "analytics",
                {
                    "200": {
                        "description": (
                            "One line per outbound message of the campaign under a header line that is always there "
                            "(an unknown campaign: the header alone), streamed; a read failing midway closes the "
                            "connection before the end."
                        ),
                        "headers": {
                            "Content-Disposition": {
                                "required": True,
                                "schema": {"const": 'attachment; filename="recipients.csv"'},
                            }
                        },
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    "400": _refused("The campaign or page_size is wrong (named). " + BAD_HTTP),
                },
                parameters=[
                    _path(
                        "campaign",
                        {"type": "string", "minLength": 1, "maxLength": campaigns_api.MAX_CAMPAIGN_CHARS},
                        "The campaign's id, as logged.",
                    ),
                    _query(
                        "page_size",
                        {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": campaigns_api.MAX_PAGE_SIZE,
                            "default": campaigns_api.DEFAULT_PAGE_SIZE,
                        },
                        "Lines read from the database at a time.",
                    ),
                ],
            )
        },
        "/healthz": {
            "get": _operation(
                "healthz", "Liveness", "operations", {"200": _json("Alive.", _ref("Health"))}, api=False, org=False
            )
        },
        "/readyz": {
            "get": _operation(
                "readyz",
                "Readiness",
                "operations",
                {
                    "200": _json(
                        "Ready: database migrated and reachable, queue below 90% of QUEUE_MAX.", _ref("Readiness")
                    ),
                    "503": _json(
                        f"Not ready (or a background task failed); {INTERNAL}, with the error shape.",
                        {"anyOf": [_ref("Readiness"), _ref("Error")]},
                    ),
                },
                api=False,
                org=False,
            )
        },
        "/metrics": {
            "get": _operation(
                "metrics",
                "Prometheus metrics",
                "operations",
                {
                    "200": {
                        "description": "The text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
                api=False,
                org=False,
            )
        },
        "/openapi.json": {
            "get": _operation(
                "openapi",
                "This document",
                "operations",
                {"200": _json("The OpenAPI 3.1 document of every route.", {"type": "object"})},
                api=False,
                org=False,
            )
        },
    }


def _version() -> str:
    try:
        return metadata.version("bluetick")
    except metadata.PackageNotFoundError:  # a checkout run without installing it
        return "0.0.0"


@cache
def _built() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bluetick",
            "version": _version(),
            "description": (
                "WhatsApp delivery receipts merged into Postgres, per organisation: BSP webhooks in, the agent's "
                "logging API, message lookup, the event feed and signed webhook subscriptions, tracked links, "
                "customer erasure and export, the analyst's report and campaign CSV. Every refusal answers "
                '{"error": "..."} (the `Error` schema). docs/formats.md tells each route in prose.'
            ),
        },
        "tags": [
            {"name": "webhooks", "description": "BSPs post here"},
            {"name": "messages", "description": "the agent logs and looks up its messages"},
            {"name": "events", "description": "the event feed"},
            {"name": "subscriptions", "description": "events pushed, signed as Standard Webhooks says"},
            {"name": "links", "description": "tracked links"},
            {"name": "customers", "description": "one customer's data: export, erasure"},
            {"name": "analytics", "description": "the report page and campaign CSV"},
            {"name": "operations", "description": "health, readiness, metrics, this document"},
        ],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "apiToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "API_TOKEN, or the organisation's own api_token (org_secrets).",
                }
            },
        },
    }


def document() -> Schema:
    """The OpenAPI document (a copy: the caller may change it)."""
    return copy.deepcopy(_built())


@cache
def _served() -> bytes:
    return jsoncodec.dumps(_built()).encode()


async def serve_openapi(request: web.Request) -> web.Response:
    return web.Response(body=_served(), content_type=JSON)


METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
_REGEX_PART = re.compile(r"\{(\w+):[^{}]*\}")


def routes_of(app: web.Application) -> dict[tuple[str, str], str | None]:
    """Each route of `app` as (METHOD, path template) -> its name. A HEAD aiohttp adds beside a GET is that GET's;
    a `{name:regex}` part is `{name}`."""
    found: dict[tuple[str, str], str | None] = {}
    gets = {
        (route.resource.canonical if route.resource else "") for route in app.router.routes() if route.method == "GET"
    }
    for route in app.router.routes():
        resource = route.resource
        path = _REGEX_PART.sub(r"{\1}", resource.canonical) if resource is not None else ""
        if route.method == "HEAD" and (resource.canonical if resource else "") in gets:
            continue
        found[(route.method, path)] = route.name
    return found


def operations_of(doc: Schema) -> dict[tuple[str, str], str | None]:
    """Each operation of `doc` as (METHOD, path) -> its operationId."""
    return {
        (method.upper(), path): operation.get("operationId")
        for path, item in doc.get("paths", {}).items()
        for method, operation in item.items()
        if method in METHODS
    }


def mismatches(app: web.Application, doc: Schema | None = None) -> list[str]:
    """What keeps `doc` (this module's document by default) and `app`'s routes apart: a route without an operation,
    an operation without a route, an operationId that is not its route's name. Empty when in step."""
    routes = routes_of(app)
    operations = operations_of(_built() if doc is None else doc)
    problems = [f"route without an operation: {m} {p}" for m, p in sorted(routes.keys() - operations.keys())]
    problems += [f"operation without a route: {m} {p}" for m, p in sorted(operations.keys() - routes.keys())]
    problems += [
        f"operationId {operations[key]!r} of {key[0]} {key[1]} is not its route's name {routes[key]!r}"
        for key in sorted(routes.keys() & operations.keys())
        if routes[key] != operations[key]
    ]
    return problems
