"""Broker profiles: one place that turns "which broker" into client settings.

A profile is chosen once, at connect time, and yields every client setting the
kit uses: plain confluent-kafka clients and quixstreams ``Application``
keyword arguments. The embedded broker's measured quirks are handled here so
users never meet them (see the README, "The embedded broker"):

* slow consumer-group joins → short session/heartbeat timeouts;
* ``describe_configs`` that reports only explicit settings → topics created
  with explicit retention, and missing retention read as "infinite";
* a wrong high watermark after multi-record batches → the Application's
  state recovery gets each changelog partition's true end, read from its
  last batch (it used to send one record per batch instead: ~70x slower);
* transactions not honoured → exactly-once is never switched on.

>>> s = BrokerSettings(profile="local", address="127.0.0.1:9092")
>>> s.consumer_config()["session.timeout.ms"]
1500
>>> s.guarantee
'at-least-once'
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .errors import ConfigurationError

if TYPE_CHECKING:
    from quixstreams import Application

__all__ = [
    "LOCAL_TOPIC_CONFIG",
    "BrokerSettings",
    "Guarantee",
    "Profile",
    "quiet_logger",
    "settings_from_env",
    "settings_to_env",
]

Profile = Literal["local", "kafka", "quix"]
Guarantee = Literal["at-least-once", "exactly-once"]
PROFILES: tuple[Profile, ...] = ("local", "kafka", "quix")

#: Explicit configs for topics on the embedded broker. Tansu ignores retention
#: (it keeps everything in memory), so "-1" (infinite) is the honest value; it
#: must be explicit because Tansu reports only explicitly set configs.
LOCAL_TOPIC_CONFIG: dict[str, str] = {"retention.ms": "-1", "retention.bytes": "-1"}

#: librdkafka security settings read from the environment for the kafka profile.
SECURITY_ENV: dict[str, str] = {
    "KIT_SECURITY_PROTOCOL": "security.protocol",
    "KIT_SASL_MECHANISM": "sasl.mechanism",
    "KIT_SASL_USERNAME": "sasl.username",
    "KIT_SASL_PASSWORD": "sasl.password",
    "KIT_SSL_CA_LOCATION": "ssl.ca.location",
}


def quiet_logger() -> logging.Logger:
    """The logger handed to librdkafka clients: silent unless asked.

    librdkafka otherwise prints every failed connection attempt to stderr, a
    storm of lines for one unreachable address. Its lines go to the
    ``kit.librdkafka`` logger, which has no handler unless you add one.
    """
    logger = logging.getLogger("kit.librdkafka")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    return logger


@dataclass(frozen=True)
class BrokerSettings:
    """Client settings for one broker under one profile.

    Args:
        profile: ``local`` (Tansu, embedded or not), ``kafka`` (Kafka or
            Redpanda) or ``quix`` (Quix Cloud through ``quix_sdk_token``).
        address: bootstrap servers (not used by the quix profile).
        security: librdkafka security settings (``security.protocol``,
            ``sasl.*``, ``ssl.*``).
        quix_sdk_token: the Quix Cloud SDK token (quix profile).
        transactions: whether the broker honours transactions (from the
            capability probe); exactly-once is used only when it does.
    """

    profile: Profile
    address: str | None = None
    security: Mapping[str, str] = field(default_factory=dict)
    quix_sdk_token: str | None = None
    transactions: bool = False

    @property
    def guarantee(self) -> Guarantee:
        """The strongest processing guarantee this broker supports."""
        return "exactly-once" if self.transactions else "at-least-once"

    # plain confluent-kafka clients -------------------------------------------
    def client_config(self) -> dict[str, Any]:
        """Settings every confluent-kafka client of this broker needs."""
        if self.profile == "quix":
            config = self._quix_builder().librdkafka_connection_config
            base: dict[str, Any] = config.as_librdkafka_dict()
        else:
            base = {"bootstrap.servers": self.address, **self.security}
        base["logger"] = quiet_logger()
        return base

    def consumer_config(self, **extra: Any) -> dict[str, Any]:
        """Settings for a plain ``confluent_kafka.Consumer``."""
        config = self.client_config()
        config.update(self._consumer_quirks())
        config.update(extra)
        return config

    def producer_config(self, **extra: Any) -> dict[str, Any]:
        """Settings for a plain ``confluent_kafka.Producer`` (fast: batches)."""
        config = self.client_config()
        config.update({"linger.ms": 5, "enable.idempotence": False})
        config.update(extra)
        return config

    def topic_config(self) -> dict[str, str]:
        """Extra configs to set explicitly on topics the kit creates."""
        return dict(LOCAL_TOPIC_CONFIG) if self.profile == "local" else {}

    # quixstreams -------------------------------------------------------------
    def application_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``quixstreams.Application`` on this broker.

        ``overrides`` win, except that ``processing_guarantee="exactly-once"``
        is refused where the broker does not honour transactions.
        """
        from quixstreams.kafka.configuration import ConnectionConfig

        kwargs: dict[str, Any] = {"processing_guarantee": self.guarantee}
        if self.profile == "quix":
            kwargs["quix_sdk_token"] = self.quix_sdk_token
        else:
            kwargs["broker_address"] = ConnectionConfig.from_librdkafka_dict(
                {"bootstrap.servers": self.address, **self.security}
            )
        consumer = self._consumer_quirks()
        consumer.update(overrides.pop("consumer_extra_config", None) or {})
        producer: dict[str, Any] = {}
        if self.transactions:
            # A killed service's open transaction is aborted after 10 s (the
            # broker's default wait is 60 s for read_committed readers).
            producer["transaction.timeout.ms"] = 10_000
        producer.update(overrides.pop("producer_extra_config", None) or {})
        kwargs["consumer_extra_config"] = consumer
        kwargs["producer_extra_config"] = producer
        kwargs.update(overrides)
        if kwargs["processing_guarantee"] == "exactly-once" and not self.transactions:
            raise ConfigurationError(
                "processing_guarantee='exactly-once' is not available: this "
                f"{self.profile} broker does not honour transactions (an aborted "
                "write is visible to read_committed readers). Use "
                "'at-least-once'; kit readers drop duplicates by record identity."
            )
        return kwargs

    def application(self, **overrides: Any) -> Application:
        """A ``quixstreams.Application`` with this profile's settings."""
        kwargs = self.application_kwargs(**overrides)
        if self.profile == "local":
            app = _local_application_class()(**kwargs)
            app.kit_exact_watermarks(self.consumer_config())  # type: ignore[attr-defined]
            return app
        from quixstreams import Application

        return Application(**kwargs)

    # helpers -----------------------------------------------------------------
    def _consumer_quirks(self) -> dict[str, Any]:
        quirks: dict[str, Any] = {"fetch.queue.backoff.ms": 100}
        if self.profile == "local":
            # librdkafka's 45 s default makes the first record arrive ~23 s
            # after a join on Tansu; these values bring it to ~1 s. Topics
            # come back after a restart of the in-memory broker: look for
            # them every 5 s, not every 5 minutes (librdkafka's default).
            quirks.update(
                {
                    "session.timeout.ms": 1500,
                    "heartbeat.interval.ms": 300,
                    "topic.metadata.refresh.interval.ms": 5000,
                }
            )
        return quirks

    def _quix_builder(self) -> Any:
        from quixstreams.platforms.quix.config import QuixKafkaConfigsBuilder
        from quixstreams.platforms.quix.env import QUIX_ENVIRONMENT

        portal_api = QUIX_ENVIRONMENT.portal_api
        if not (self.quix_sdk_token and portal_api):
            raise ConfigurationError(
                "The quix profile needs Quix__Sdk__Token and Quix__Portal__Api "
                "(your Quix Cloud SDK token and portal API URL)."
            )
        return QuixKafkaConfigsBuilder.from_credentials(
            quix_sdk_token=self.quix_sdk_token, quix_portal_api=portal_api
        )


#: Every other librdkafka client setting, as one JSON object.
CLIENT_CONFIG_ENV = "KIT_CLIENT_CONFIG"


def settings_to_env(settings: BrokerSettings) -> dict[str, str]:
    """Environment variables that give a service exactly ``settings``
    (:func:`settings_from_env` reads them back).

    >>> s = BrokerSettings("kafka", "k:9092", {"ssl.certificate.location": "/c.pem"})
    >>> settings_from_env(settings_to_env(s)) == s
    True
    """
    env = {
        "KIT_PROFILE": settings.profile,
        "KIT_TRANSACTIONS": "1" if settings.transactions else "0",
    }
    if settings.profile == "quix":
        env["Quix__Sdk__Token"] = settings.quix_sdk_token or ""
    else:
        env["KIT_BROKER"] = settings.address or ""
    if settings.security:
        env[CLIENT_CONFIG_ENV] = json.dumps(dict(settings.security), sort_keys=True)
    return env


def settings_from_env(
    environ: Mapping[str, str] | None = None, *, transactions: bool | None = None
) -> BrokerSettings:
    """Broker settings for a service, from environment variables only.

    ``Quix__Sdk__Token`` selects the quix profile; otherwise the address is
    ``KIT_BROKER`` or ``Quix__Broker__Address``, the profile ``KIT_PROFILE``
    (default ``kafka``), security settings ``KIT_SECURITY_PROTOCOL``,
    ``KIT_SASL_MECHANISM``, ``KIT_SASL_USERNAME``, ``KIT_SASL_PASSWORD``,
    ``KIT_SSL_CA_LOCATION``, any librdkafka setting in ``KIT_CLIENT_CONFIG``
    (a JSON object, e.g. ``{"ssl.certificate.location": "/etc/kafka/c.pem"}``;
    the single variables win), and transactions ``KIT_TRANSACTIONS`` (1/0).

    >>> s = settings_from_env({"KIT_BROKER": "k:9092", "KIT_SASL_USERNAME": "u"})
    >>> s.profile, s.address, s.security
    ('kafka', 'k:9092', {'sasl.username': 'u'})
    """
    env = os.environ if environ is None else environ
    if transactions is None:
        transactions = env.get("KIT_TRANSACTIONS", "0").lower() in ("1", "true", "yes")
    token = env.get("Quix__Sdk__Token")
    if token and not env.get("KIT_BROKER"):
        return BrokerSettings(
            profile="quix", quix_sdk_token=token, transactions=transactions
        )
    address = env.get("KIT_BROKER") or env.get("Quix__Broker__Address")
    if not address:
        raise ConfigurationError(
            "No broker address: set KIT_BROKER (or Quix__Broker__Address) to "
            "host:port, or Quix__Sdk__Token for Quix Cloud."
        )
    profile = env.get("KIT_PROFILE", "kafka")
    if profile not in PROFILES:
        raise ConfigurationError(
            f"KIT_PROFILE={profile!r} is not a profile; choose one of "
            f"{', '.join(PROFILES)}."
        )
    security = _client_config(env.get(CLIENT_CONFIG_ENV))
    security.update(
        {key: env[var] for var, key in SECURITY_ENV.items() if env.get(var)}
    )
    return BrokerSettings(
        profile=profile,
        address=address,
        security=security,
        transactions=transactions and profile != "local",
    )


def _client_config(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{CLIENT_CONFIG_ENV} must be a JSON object of librdkafka settings, "
            f'e.g. {{"ssl.certificate.location": "/etc/kafka/client.pem"}}; got {text!r}.'
        )
    return {str(k): str(v) for k, v in data.items()}


_LOCAL_APP: type[Application] | None = None


def _local_application_class() -> type[Application]:
    """An ``Application`` for Tansu: explicit retention, exact watermarks.

    Tansu's describe_configs returns only explicit configs, so quixstreams'
    changelog derivation fails with ``KeyError: 'retention.ms'`` on topics
    created without them (e.g. by a producer's first write). This subclass
    creates topics with explicit retention and reads a missing one as "-1",
    and gives state recovery true changelog ends (see
    ``kit_exact_watermarks``).
    """
    global _LOCAL_APP
    if _LOCAL_APP is not None:
        return _LOCAL_APP
    from quixstreams import Application
    from quixstreams.models.topics.manager import TopicManager

    class LocalTopicManager(TopicManager):
        default_extra_config = dict(LOCAL_TOPIC_CONFIG)  # noqa: RUF012

        def _configure_topic(self, topic: Any, broker_topic: Any) -> Any:
            topic = super()._configure_topic(topic, broker_topic)
            extra = topic.broker_config.extra_config
            for key, value in LOCAL_TOPIC_CONFIG.items():
                extra.setdefault(key, value)
            return topic

    class LocalApplication(Application):
        def _get_topic_manager(self) -> TopicManager:
            if self._topic_manager_factory is TopicManager:
                self._topic_manager_factory = LocalTopicManager
            return super()._get_topic_manager()

        def kit_exact_watermarks(self, consumer_config: dict[str, Any]) -> None:
            """Give state recovery the true end of each changelog partition.

            Tansu's high watermark is the first offset of a partition's last
            batch + 1, so recovery read too little or failed with
            InvalidStoreChangelogOffset after a crash. Recovery is what asks
            this consumer for watermarks; the answer now comes from reading
            the partition's last batch to its end (``offsets.end_offsets``).
            """
            from .offsets import end_offsets

            consumer = self._consumer
            watermarks = consumer.get_watermark_offsets

            def exact(
                partition: Any, timeout: float | None = None, cached: bool = False
            ) -> tuple[int, int]:
                low, high = watermarks(partition, timeout=timeout, cached=cached)
                if cached or high <= max(low, 0):
                    return low, high
                bounds = end_offsets(
                    consumer_config,
                    {partition.topic: [partition.partition]},
                    trust_watermarks=False,
                    timeout=timeout or 10.0,
                )
                return bounds[(partition.topic, partition.partition)]

            consumer.get_watermark_offsets = exact  # type: ignore[method-assign]

    _LOCAL_APP = LocalApplication
    return LocalApplication
