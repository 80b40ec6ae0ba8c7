"""Each setting is declared once; the loader, the docs and the reprs all follow that declaration."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import pytest

from bluetick.auth import OrgSecrets
from bluetick.client import BluetickClient, ClientSettings
from bluetick.config import ConfigError, Settings, declared, load, load_settings

SECRET = "s3cret-value"
ROOT = Path(__file__).parents[2]
DECLARED = {spec.env: (cls, name, spec) for cls in (Settings, ClientSettings) for name, spec in declared(cls).items()}


def shown(value: object) -> str:
    """A default as the settings table of docs/configuration.md writes it."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        unit, size = next((u, n) for u, n in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)) if seconds % n == 0)
        return f"`{seconds // size}{unit}`"
    return f"`{value}`"


def readme_settings() -> dict[str, str]:
    """The rows of the settings tables of docs/configuration.md (under "## Configuration"), by variable."""
    section = (ROOT / "docs" / "configuration.md").read_text().split("\n## Configuration\n")[1].split("\n## ")[0]
    return dict(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` (\|.*)$", section, re.MULTILINE))


def env_example() -> dict[str, str]:
    """The variables of `.env.example`, commented out or not, with the value given."""
    text = (ROOT / ".env.example").read_text()
    return dict(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=(.*)$", text, re.MULTILINE))


def test_a_secret_setting_never_shows_in_the_repr():
    secrets = {name for name, spec in declared(Settings).items() if spec.secret}
    assert {"api_token", "database_url", "meta_app_secret", "supabase_service_role_key"} <= secrets
    text = repr(Settings(**dict.fromkeys(secrets, SECRET)))
    assert SECRET not in text
    assert "port=8080" in text


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


def test_the_configuration_table_lists_every_setting_as_declared_and_nothing_else():
    expected = {}
    for env, (cls, name, spec) in DECLARED.items():
        default = spec.default_doc or shown(getattr(cls(), name))
        expected[env] = f"| {default} | {spec.doc} |"
    assert readme_settings() == expected


def test_env_example_lists_every_setting_and_nothing_else():
    assert set(env_example()) == set(DECLARED)


def test_env_example_gives_each_setting_its_declared_default():
    for env, value in env_example().items():
        cls, name, _ = DECLARED[env]
        assert getattr(load(cls, {env: value}), name) == getattr(cls(), name), env
