"""Each setting is declared once; the loader, the docs and the reprs all follow that declaration."""

from __future__ import annotations

from dataclasses import fields

import pytest

from bluetick.auth import OrgSecrets
from bluetick.client import BluetickClient, ClientSettings
from bluetick.config import ConfigError, Settings, declared, load, load_settings

SECRET = "s3cret-value"


def test_a_secret_setting_never_shows_in_the_repr():
    secrets = {name for name, spec in declared(Settings).items() if spec.secret}
    assert {"api_token", "database_url", "meta_app_secret", "supabase_service_role_key"} <= secrets
    shown = repr(Settings(**dict.fromkeys(secrets, SECRET)))
    assert SECRET not in shown
    assert "port=8080" in shown


def test_every_field_is_declared_except_the_derived_open_api():
    assert {f.name for f in fields(Settings)} - set(declared(Settings)) == {"open_api"}


def test_no_two_settings_share_a_variable():
    names = [spec.env for spec in declared(Settings).values()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("name", "minimum"),
    [(spec.env, spec.minimum) for spec in declared(Settings).values() if spec.minimum is not None],
)
def test_a_value_below_its_minimum_is_refused_naming_the_variable(name: str, minimum: int):
    with pytest.raises(ConfigError, match=f"{name} must be at least {minimum}"):
        load_settings({name: str(minimum - 1)})
    load_settings({name: str(minimum)})


@pytest.mark.parametrize("name", [spec.env for spec in declared(Settings).values() if spec.choices])
def test_a_value_outside_its_choices_is_refused_naming_the_variable(name: str):
    with pytest.raises(ConfigError, match=f"{name} must be one of"):
        load_settings({name: "nonsense"})


def test_an_empty_variable_keeps_the_default():
    assert load(Settings, {spec.env: "  " for spec in declared(Settings).values()}) == Settings()


def test_org_secrets_repr_names_the_secrets_set_but_not_their_values():
    secrets = OrgSecrets(meta_app_secret=SECRET, api_token=SECRET)
    assert repr(secrets) == "OrgSecrets(set: meta_app_secret, api_token)"
    assert repr(OrgSecrets()) == "OrgSecrets(set: none)"


def test_the_client_reads_its_declared_settings_and_keeps_its_token_out_of_the_repr():
    settings = load(ClientSettings, {"BLUETICK_URL": "http://agent.example/", "BLUETICK_API_TOKEN": SECRET})
    assert settings.url == "http://agent.example/" and settings.timeout_ms == 1500
    assert SECRET not in repr(settings)


def test_the_client_refuses_a_malformed_timeout_naming_it(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(ConfigError, match="BLUETICK_TIMEOUT_MS must be at least 1"):
        load(ClientSettings, {"BLUETICK_TIMEOUT_MS": "0"})
    monkeypatch.setenv("BLUETICK_TIMEOUT_MS", "soon")
    with pytest.raises(ConfigError, match="BLUETICK_TIMEOUT_MS"):
        BluetickClient()


def test_the_client_takes_its_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BLUETICK_URL", "http://agent.example/")
    monkeypatch.setenv("BLUETICK_TIMEOUT_MS", "250")
    client = BluetickClient()
    assert client.base_url == "http://agent.example" and client.timeout_s == 0.25
    assert BluetickClient("http://given", timeout_ms=100).timeout_s == 0.1
