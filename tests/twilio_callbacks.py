"""Twilio's WhatsApp status callback as its docs show one, for the unit and the integration tests."""

from __future__ import annotations

SID = "SM1342fe1b2c904d1ab04f0fc7a58abca9"


def callback(status: str, **extra: str) -> dict[str, str]:
    """The callback's form fields for message SID at `status`; `extra` adds or replaces fields."""
    return {
        "AccountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "ApiVersion": "2010-04-01",
        "ChannelPrefix": "whatsapp",
        "From": "whatsapp:+14155238886",
        "MessageSid": SID,
        "MessageStatus": status,
        "SmsSid": SID,
        "SmsStatus": status,
        "To": "whatsapp:+15017122661",
    } | extra
