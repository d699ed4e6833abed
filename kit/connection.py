"""``kit.connect()``: one object that knows the broker, its profile and limits.

>>> import kit
>>> conn = kit.connect()                   # doctest: +SKIP
>>> conn.profile, conn.guarantee            # doctest: +SKIP
('local', 'at-least-once')
>>> app = conn.application(consumer_group="demo")   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _session
from ._errors import ConfigurationError, KitError
from ._kafka import fetch_metadata
from .runtime.probe import Capabilities, probe_capabilities
from .runtime.profile import PROFILES, SECURITY_ENV, BrokerSettings, Guarantee, Profile

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient
    from quixstreams import Application

__all__ = ["Connection", "TopicInfo", "connect"]

#: Capabilities assumed (not measured) for Quix Cloud, whose Kafka honours
#: transactions; the probe is not run there because it would create a topic
#: in your workspace. Pass ``probe=True`` to measure anyway.
QUIX_ASSUMED = Capabilities(
    transactions=True, watermarks=True, config_defaults=True, time_index=True
)

_PROBED: dict[tuple[str, str], Capabilities] = {}


@dataclass(frozen=True)
class TopicInfo:
    """One topic as listed by :meth:`Connection.topics`."""

    name: str
    partitions: int
    messages: int


class Connection:
    """A connection to one broker; build it with :func:`connect`.

    Attributes:
        address: bootstrap servers (``None`` for Quix Cloud).
        profile: ``local``, ``kafka`` or ``quix``.
        capabilities: what the broker was measured to honour.
        embedded: whether this is the kit's own embedded broker.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        capabilities: Capabilities,
        cluster_id: str | None,
        embedded: bool,
        measured: bool,
        storage: str | None = None,
    ) -> None:
        self.settings = settings
        self.capabilities = capabilities
        self.cluster_id = cluster_id
        self.embedded = embedded
        self.measured = measured
        self.storage = storage

    @property
    def address(self) -> str | None:
        return self.settings.address

    @property
    def profile(self) -> Profile:
        return self.settings.profile

    @property
    def guarantee(self) -> Guarantee:
        """The strongest guarantee the kit gives on this broker."""
        return self.settings.guarantee

    def describe(self) -> str:
        """A few lines for people: where, which profile, which guarantees."""
        where = self.address or "Quix Cloud"
        if self.embedded and self.profile != "local":
            kind = f"embedded Apache Kafka, {self.storage}"
        elif self.embedded:
            durable = self.storage and self.storage.startswith("s3://")
            kind = "embedded Tansu broker, " + (
                "durable (s3 storage)" if durable else "memory: data ends with it"
            )
        else:
            kind = "Tansu broker" if self.profile == "local" else self.profile
        how = "measured" if self.measured else "assumed"
        if self.capabilities.transactions:
            promise = "exactly-once (transactions honoured)"
        else:
            promise = (
                "at-least-once + record identity for de-duplication "
                "(this broker does not honour transactions: no exactly-once)"
            )
        return (
            f"Connected to {where} · profile {self.profile} · {kind}\n"
            f"Guarantee: {promise} [{how}]"
        )

    def __repr__(self) -> str:
        return (
            f"<kit.Connection {self.address or 'quix'} profile={self.profile} "
            f"guarantee={self.guarantee}>"
        )

    # clients ---------------------------------------------------------------
    def application(self, **kwargs: Any) -> Application:
        """A ``quixstreams.Application`` with this broker's settings.

        Keyword arguments go to ``Application`` and win over the profile's;
        ``processing_guarantee`` defaults to the strongest one available.
        """
        return self.settings.application(**kwargs)

    def admin(self) -> AdminClient:
        """A confluent-kafka ``AdminClient`` (quiet logging)."""
        from confluent_kafka.admin import AdminClient

        return AdminClient(self.settings.client_config())

    def producer(self, **config: Any) -> Producer:
        """A confluent-kafka ``Producer``; ``config`` adds librdkafka settings."""
        from confluent_kafka import Producer

        return Producer(self.settings.producer_config(**librdkafka_keys(config)))

    def consumer(self, group_id: str | None = None, **config: Any) -> Consumer:
        """A confluent-kafka ``Consumer`` with the profile's group settings."""
        from confluent_kafka import Consumer

        group = group_id or f"kit-{os.getpid()}-{time.monotonic_ns()}"
        config = {"group.id": group, **librdkafka_keys(config)}
        return Consumer(self.settings.consumer_config(**config))

    # topics ----------------------------------------------------------------
    def create_topic(
        self,
        name: str,
        *,
        partitions: int = 1,
        config: Mapping[str, str] | None = None,
        exist_ok: bool = True,
        timeout: float = 10.0,
    ) -> None:
        """Create a topic with explicit configs (the profile's plus ``config``)."""
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import NewTopic

        topic_config = {**self.settings.topic_config(), **(config or {})}
        # Tansu: one copy; a cluster: its default (default.replication.factor).
        replicas = 1 if self.profile == "local" else -1
        new = NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=replicas,
            config=topic_config,
        )
        admin = self.admin()
        try:
            admin.create_topics([new], operation_timeout=timeout)[name].result(timeout)
        except KafkaException as exc:
            if exist_ok and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return
            raise KitError(
                f"Could not create topic {name!r}: {exc.args[0].str()}"
            ) from None

    def delete_topics(
        self, names: Iterable[str], *, timeout: float = 10.0, force: bool = False
    ) -> None:
        """Delete topics (missing ones are ignored).

        A consumer whose topic is deleted under it takes its whole process
        down on the embedded broker (librdkafka crashes on Tansu's metadata
        for the deleted topic; measured with confluent-kafka 2.12 and 2.16),
        so first: live views (taps) in this process that read one of the
        topics are stopped, and if a running kit service reads one, nothing
        is deleted and :class:`KitError` names the service and how to stop
        it. ``force=True`` deletes anyway.
        """
        from confluent_kafka import KafkaException

        from ._topic_guard import check_unread, stop_taps

        names = list(names)
        if not names:
            return
        if not force:
            check_unread(names, self.address)
        stop_taps(names, self.address)
        admin = self.admin()
        for future in admin.delete_topics(names, operation_timeout=timeout).values():
            with contextlib.suppress(KafkaException):
                future.result(timeout)

    def topics(
        self, *, internal: bool = False, timeout: float = 5.0
    ) -> list[TopicInfo]:
        """Topics with their partition and message counts, sorted by name.

        Message counts are offsets (end minus start): exact where records
        were written without transactions, on every profile (where the
        broker's high watermark is not trustworthy, Tansu, the end of each
        partition is read from its last batch instead). A topic written with
        transactions (exactly-once) also spends an offset on each commit
        marker, so its count is an upper bound; ``kit.read`` counts records.
        """
        metadata = fetch_metadata(self.settings.client_config(), timeout=timeout)
        names = sorted(n for n in metadata.topics if internal or not n.startswith("__"))
        partitions = {n: sorted(metadata.topics[n].partitions) for n in names}
        bounds = self.offsets(partitions, timeout=timeout)
        return [
            TopicInfo(
                name=n,
                partitions=len(partitions[n]),
                messages=sum(
                    high - low for (t, _p), (low, high) in bounds.items() if t == n
                ),
            )
            for n in names
        ]

    def offsets(
        self, partitions: Mapping[str, Iterable[int]], *, timeout: float = 5.0
    ) -> dict[tuple[str, int], tuple[int, int]]:
        """``(low, end)`` offsets per ``(topic, partition)``; end is exclusive.

        On brokers whose high watermark is wrong after multi-record batches,
        the end is found by reading each partition's last batch to its end.
        """
        from .runtime import offsets as _offsets

        return _offsets.end_offsets(
            self.settings.consumer_config(),
            {t: list(ps) for t, ps in partitions.items()},
            trust_watermarks=self.capabilities.watermarks,
            timeout=timeout,
        )


def librdkafka_keys(config: Mapping[str, Any]) -> dict[str, Any]:
    """Let Python keywords stand for librdkafka settings: ``_`` means ``.``.

    Callbacks and keys that already have dots are left alone.

    >>> librdkafka_keys({"auto_offset_reset": "earliest", "linger.ms": 5})
    {'auto.offset.reset': 'earliest', 'linger.ms': 5}
    >>> librdkafka_keys({"error_cb": print, "on_delivery": print}) == {
    ...     "error_cb": print, "on_delivery": print}
    True
    """
    keep = ("logger", "on_delivery")
    return {
        k if "." in k or k.endswith("_cb") or k in keep else k.replace("_", "."): v
        for k, v in config.items()
    }


def connect(
    address: str | None = None,
    *,
    profile: Profile | None = None,
    probe: bool | None = None,
    timeout: float = 5.0,
    **options: str,
) -> Connection:
    """Connect to a broker and find out what it honours.

    Args:
        address: ``host:port[,host:port]``. Without it: ``KIT_BROKER``, then
            Quix Cloud if ``Quix__Sdk__Token`` is set, else the embedded
            broker (started if it is not running).
        profile: force ``local``, ``kafka`` or ``quix``; by default a Tansu
            broker (recognised by the cluster id it reports) is ``local`` and
            anything else ``kafka``.
        probe: run the capability probe (default: yes, except on Quix Cloud).
        timeout: seconds to wait for the broker to answer.
        **options: librdkafka security settings, with ``_`` for ``.``
            (``sasl_username="u"``); the ``KIT_SASL_*``/``KIT_SSL_*``/
            ``KIT_SECURITY_PROTOCOL`` environment variables are read too.

    Raises:
        BrokerUnreachable: nothing answered at the address within ``timeout``.
    """
    if profile is not None and profile not in PROFILES:
        raise ConfigurationError(
            f"profile={profile!r} is not a profile; choose one of "
            f"{', '.join(PROFILES)}."
        )
    embedded = False
    storage = None
    engine = None
    address = address or os.environ.get("KIT_BROKER") or None
    token = os.environ.get("Quix__Sdk__Token")  # noqa: SIM112 (Quix's own name)
    if profile == "quix" or (address is None and token and profile is None):
        return _connect_quix(token, probe=bool(probe), timeout=timeout)
    if address is None:
        from . import _broker

        info, _ = _broker.start()
        address, embedded, storage = info.address, True, info.storage
        engine = info.engine
    security = {
        var_key: os.environ[var]
        for var, var_key in SECURITY_ENV.items()
        if os.environ.get(var)
    }
    security.update(librdkafka_keys(options))
    base = BrokerSettings(
        profile=profile or "kafka", address=address, security=security
    )
    metadata = fetch_metadata(base.client_config(), timeout=timeout)
    cluster_id = metadata.cluster_id
    if profile is None:
        tansu = "tansu" in (cluster_id or "").lower() or (
            embedded and engine == "tansu"
        )
        profile = "local" if tansu else "kafka"
    settings = BrokerSettings(profile=profile, address=address, security=security)
    capabilities, measured = _capabilities(settings, cluster_id, probe, timeout)
    settings = BrokerSettings(
        profile=profile,
        address=address,
        security=security,
        transactions=capabilities.transactions and profile != "local",
    )
    connection = Connection(
        settings,
        capabilities=capabilities,
        cluster_id=cluster_id,
        embedded=embedded,
        measured=measured,
        storage=storage,
    )
    _session.set_current(connection)
    return connection


def _connect_quix(token: str | None, *, probe: bool, timeout: float) -> Connection:
    """The Quix Cloud connection of ``Quix__Sdk__Token`` (the broker's
    address and settings come from Quix)."""
    if not token:
        raise ConfigurationError(
            "profile='quix' needs the Quix__Sdk__Token environment variable "
            "(your Quix Cloud SDK token)."
        )
    settings = BrokerSettings(profile="quix", quix_sdk_token=token)
    capabilities = QUIX_ASSUMED
    if probe:
        capabilities = probe_capabilities(settings.client_config(), timeout=timeout)
    settings = BrokerSettings(
        profile="quix", quix_sdk_token=token, transactions=capabilities.transactions
    )
    connection = Connection(
        settings, capabilities=capabilities, cluster_id=None, embedded=False,
        measured=probe,
    )  # fmt: skip
    _session.set_current(connection)
    return connection


def _capabilities(
    settings: BrokerSettings, cluster_id: Any, probe: bool | None, timeout: float
) -> tuple[Capabilities, bool]:
    """What the broker honours (measured once per broker and process, unless
    ``probe`` is False: then assumed from the profile), and whether measured."""
    if probe is False:
        stock = settings.profile != "local"
        return Capabilities(False, stock, stock, stock), False
    key = (str(settings.address), str(cluster_id))
    if key not in _PROBED:
        _PROBED[key] = probe_capabilities(
            settings.client_config(),
            topic_config=settings.topic_config(),
            timeout=timeout,
        )
    return _PROBED[key], True
