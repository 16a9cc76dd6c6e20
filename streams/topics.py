"""The topics of the live runtime and their creation (kafka-python admin)."""

from __future__ import annotations

from dataclasses import dataclass

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


def topic_specs(s: StreamSettings) -> list[TopicSpec]:
    """Every topic with its partitions and configuration."""
    n = s.partitions
    specs = [TopicSpec(s.topic(t), n, {}, "input events") for t in INPUTS if t != "directory"]
    specs.append(TopicSpec(s.topic("directory"), n, {"cleanup.policy": "compact"}, "register changes"))
    # The work log is the engine's source of truth: a partition's state is the fold of its messages, so a
    # restarted worker rebuilds it from here. It is kept forever.
    specs.append(TopicSpec(s.topic(WORK), n, {"retention.ms": "-1"}, "events routed to the owning partition"))
    specs.append(TopicSpec(s.topic(ALERTS), n, {"cleanup.policy": "compact"}, "each new version of an alert"))
    specs.append(TopicSpec(s.topic(LOCKOUTS), n, {}, "emergency lockout commands"))
    specs.append(TopicSpec(s.topic(DEAD_LETTER), 1, {"retention.ms": "-1"}, "rejected messages and why"))
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
        specs = topic_specs(s)
        problems = [f"topic {t.name} does not exist" for t in specs if t.name not in existing]
        counted = [s.topic(t) for t in (*INPUTS, WORK) if s.topic(t) in existing]
        for meta in admin.describe_topics(counted) if counted else []:
            name, n = meta.get("name", meta.get("topic")), len(meta.get("partitions") or [])
            if n != s.partitions:
                problems.append(f"topic {name} has {n} partitions, MONITOR_PARTITIONS is {s.partitions}")
        return problems
    finally:
        admin.close()
