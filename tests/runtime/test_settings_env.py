"""Connection settings reach a service process whole: one to_env/from_env pair."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kit.process import service_env
from kit.runtime.profile import BrokerSettings, settings_from_env, settings_to_env

CASES = [
    BrokerSettings("local", "127.0.0.1:9092"),
    BrokerSettings("kafka", "a:9092,b:9092", transactions=True),
    BrokerSettings(
        "kafka",
        "k:9093",
        {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "u",
            "sasl.password": "p=w;\"'x",
            "ssl.ca.location": "/etc/ca.pem",
            "ssl.certificate.location": "/etc/c.pem",
            "ssl.key.location": "/etc/k.pem",
            "ssl.endpoint.identification.algorithm": "none",
        },
    ),
    BrokerSettings("quix", quix_sdk_token="sdk-token", transactions=True),
]


@pytest.mark.parametrize("settings", CASES, ids=lambda s: s.profile)
def test_settings_round_trip_through_the_environment(settings: BrokerSettings) -> None:
    assert settings_from_env(settings_to_env(settings)) == settings


def test_a_live_run_gets_every_connection_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `%stream run` and `kit run` hand their child: the connection's
    settings, not what the kernel's own environment happens to hold."""
    monkeypatch.setenv("KIT_SASL_PASSWORD", "stale")  # from the kernel's env
    settings = CASES[2]
    env = service_env(SimpleNamespace(settings=settings), name="s", parent=False)  # type: ignore[arg-type]
    assert settings_from_env(env) == settings
    assert env["KIT_GROUP"] == "kit-s"
