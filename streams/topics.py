"""The topics of the live runtime and their creation (kafka-python admin)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.settings import StreamSettings

# Input topics: a producer may put any event type on any of them; routing is by `type`.
INPUTS = ("hr", "directory", "credentials", "signins", "incidents")
WORK = "work"  # internal: events re-keyed by account, person and incident events broadcast
ALERTS = "alerts"
LOCKOUTS = "lockouts"
DEAD_LETTER = "dead-letter"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]
    purpose: str


KEEP = {"retention.ms": "-1"}  # no time limit (and the broker's default of no size limit)
# An input message's timestamp is when the broker took it, not what its producer says: the router refuses an event
# stamped too far ahead of it (monitor/arrival.py), and a producer whose clock is wrong would stamp both alike.
ARRIVAL = {"message.timestamp.type": "LogAppendTime"}


def topic_specs(s: StreamSettings) -> list[TopicSpec]:
    """Every topic with its partitions and configuration.

    Nothing the monitor reads back whole may age out: the input topics are the history `monitor replay --broker`
    and `monitor report leavers --broker` read (under the broker's default of 7 days, a leaver reported two weeks
    ago would drop out of the report), the work log is what a restarted worker rebuilds from, and the lockouts
    and dead letters are the record of what was done and refused. The register and the alerts are compacted: the
    latest of each is kept.
    """
    n = s.partitions
    specs = [TopicSpec(s.topic(t), n, {**KEEP, **ARRIVAL}, "input events") for t in INPUTS if t != "directory"]
    specs.append(TopicSpec(s.topic("directory"), n, {"cleanup.policy": "compact", **ARRIVAL}, "register changes"))
    specs.append(TopicSpec(s.topic(WORK), n, KEEP, "events routed to the owning partition"))
    specs.append(TopicSpec(s.topic(ALERTS), n, {"cleanup.policy": "compact"}, "each new version of an alert"))
    specs.append(TopicSpec(s.topic(LOCKOUTS), n, KEEP, "emergency lockout commands"))
    specs.append(TopicSpec(s.topic(DEAD_LETTER), 1, KEEP, "rejected messages and why"))
    return specs


def create_topics(s: StreamSettings) -> list[tuple[str, str]]:
    """Create the topics that do not exist yet; (name, 'created' | 'exists') for each."""
    from kafka.admin import KafkaAdminClient, NewTopic  # type: ignore[import-untyped, unused-ignore]

    admin = KafkaAdminClient(bootstrap_servers=s.bootstrap, client_id=f"{s.app_id}-admin")
    try:
        existing = set(admin.list_topics())
        specs = topic_specs(s)
        new = [
            NewTopic(name=t.name, num_partitions=t.partitions, replication_factor=s.replication, topic_configs=t.config)
            for t in specs
            if t.name not in existing
        ]
        if new:
            admin.create_topics(new)
        return [(t.name, "exists" if t.name in existing else "created") for t in specs]
    finally:
        admin.close()


def topic_problems(s: StreamSettings) -> list[str]:
    """What keeps a worker from running exactly on these topics: missing ones, and input or work topics whose
    partition count is not `partitions` (engines wait for a watermark from every input partition they expect)."""
    from kafka.admin import KafkaAdminClient  # type: ignore[import-untyped, unused-ignore]

    admin = KafkaAdminClient(bootstrap_servers=s.bootstrap, client_id=f"{s.app_id}-check")
    try:
        existing = set(admin.list_topics())
        problems = [f"topic {t.name} does not exist" for t in topic_specs(s) if t.name not in existing]
        return problems + _partition_problems(admin, s, existing)
    finally:
        admin.close()


def partition_problems(s: StreamSettings, names: set[str]) -> list[str]:
    """Those of the input and work topics `names` (existing ones) whose partition count is not `partitions`: a worker
    with these settings will not run on them (topic_problems), and `monitor topics create` leaves them as they are."""
    from kafka.admin import KafkaAdminClient  # type: ignore[import-untyped, unused-ignore]

    admin = KafkaAdminClient(bootstrap_servers=s.bootstrap, client_id=f"{s.app_id}-check")
    try:
        return _partition_problems(admin, s, names)
    finally:
        admin.close()


def _partition_problems(admin: Any, s: StreamSettings, existing: set[str]) -> list[str]:
    counted = [s.topic(t) for t in (*INPUTS, WORK) if s.topic(t) in existing]
    found = {}
    for meta in admin.describe_topics(counted) if counted else []:
        found[meta.get("name", meta.get("topic"))] = len(meta.get("partitions") or [])
    return [f"topic {name} has {found[name]} partitions, MONITOR_PARTITIONS is {s.partitions}"
            for name in counted if name in found and found[name] != s.partitions]  # fmt: skip


def config_problems(s: StreamSettings) -> list[str]:
    """Existing topics configured otherwise than `monitor topics create` makes them, in ways that matter: a topic to
    keep (`KEEP`) that deletes by time or size, so its history ages out; an input topic whose messages carry their
    producers' timestamps (not `ARRIVAL`), so an event stamped ahead is judged against the producer's clock.

    Topics are only ever created, never changed, so ones made before (or by other tools) are found here, with the
    command that mends them.
    """
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient  # type: ignore[import-untyped, unused-ignore]

    admin = KafkaAdminClient(bootstrap_servers=s.bootstrap, client_id=f"{s.app_id}-check")
    try:
        existing = set(admin.list_topics())
        specs = {t.name: t.config for t in topic_specs(s) if t.name in existing}
        checked = [name for name, config in specs.items() if (KEEP | ARRIVAL).keys() & config.keys()]
        if not checked:
            return []
        keys = ["cleanup.policy", "retention.ms", "retention.bytes", "message.timestamp.type"]
        answer = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name, dict.fromkeys(keys))
                                         for name in checked], config_filter="all")  # fmt: skip
        problems = []
        for name, configs in sorted(_topic_configs(answer).items()):
            value = {k: str(configs.get(k)) for k in keys}
            wanted = specs.get(name, {})
            if (
                KEEP.items() <= wanted.items()
                and "delete" in value["cleanup.policy"]
                and (value["retention.ms"] != "-1" or value["retention.bytes"] != "-1")
            ):
                problems.append(
                    f"topic {name} deletes messages (retention.ms={value['retention.ms']}, retention.bytes="
                    f"{value['retention.bytes']}), so its history ages out; keep it with kafka-configs.sh --alter "
                    f"--entity-type topics --entity-name {name} --add-config retention.ms=-1,retention.bytes=-1"
                )
            if ARRIVAL.items() <= wanted.items() and value["message.timestamp.type"] != "LogAppendTime":
                problems.append(
                    f"topic {name} keeps its producers' timestamps (message.timestamp.type="
                    f"{value['message.timestamp.type']}), so an event stamped ahead is judged against a producer's "
                    "clock, which may be as wrong (MONITOR_MAX_AHEAD); take the broker's with kafka-configs.sh "
                    f"--alter --entity-type topics --entity-name {name} --add-config "
                    "message.timestamp.type=LogAppendTime"
                )
        return problems
    finally:
        admin.close()


def _topic_configs(answer: object) -> dict[str, dict[str, object]]:
    """topic -> {config key: value} from kafka-python's describe_configs answer."""
    found: dict[str, dict[str, object]] = {}
    for by_name in (answer or {}).values() if isinstance(answer, dict) else ():
        for name, configs in by_name.items():
            found[str(name)] = {k: (v.get("value") if isinstance(v, dict) else v) for k, v in configs.items()}
    return found
