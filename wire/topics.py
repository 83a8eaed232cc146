"""Every MQTT topic of the AgriQS wire contract, built and parsed in one place.

Kiosks, the collector, the station CLI and the provisioning agent all name topics
through these functions, so a kiosk cannot publish where no collector listens.
docs/deploy/mosquitto/make_acl.py is a standalone script with its own copy of
``PREFIX``; tests/test_wire_topics.py checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "agriqs/v1"

#: Topic suffix under ``{prefix}/{county}/{device}/`` for each event kind.
EVENT_TOPICS = {
    "certificate": "evt/certificate",
    "rapidtest": "evt/rapidtest",
    "alarm": "evt/alarm",
}


class TopicError(ValueError):
    """Not a kiosk topic; ``str()`` says why (the collector quarantines with it)."""


@dataclass(frozen=True)
class Topic:
    county: str
    device: str
    kind: str | None  # None for the state topic


def state_topic(prefix: str, county: str, device: str) -> str:
    return f"{prefix}/{county}/{device}/state"


def event_topic(prefix: str, county: str, device: str, kind: str) -> str:
    return f"{prefix}/{county}/{device}/{EVENT_TOPICS[kind]}"


def command_topic(prefix: str, county: str, device: str, name: str) -> str:
    return f"{prefix}/{county}/{device}/cmd/{name}"


def reply_root(prefix: str, county: str, device: str) -> str:
    """Replies go under the kiosk's own ``reply/`` subtree (the ACL lets it write there)."""
    return f"{prefix}/{county}/{device}/reply/"


def reply_topic(prefix: str, county: str, device: str, command_id: str) -> str:
    return reply_root(prefix, county, device) + command_id


def config_topic(prefix: str, county: str, device: str) -> str:
    return f"{prefix}/{county}/{device}/cfg"


def trust_topic(prefix: str, county: str) -> str:
    return f"{prefix}/{county}/trust"


def holds_topic(prefix: str, county: str) -> str:
    """The county's signed hold list (wire/holds.py), retained; every kiosk of it reads."""
    return f"{prefix}/{county}/holds"


def time_topic(prefix: str, county: str) -> str:
    """The county's signed time beacon (wire/timebeacon.py), retained; every kiosk reads."""
    return f"{prefix}/{county}/time"


def enroll_request_topic(prefix: str, county: str, client_id: str) -> str:
    return f"{prefix}/enroll/{county}/{client_id}/req"


def enroll_response_topic(prefix: str, county: str, client_id: str) -> str:
    return f"{prefix}/enroll/{county}/{client_id}/resp"


def event_filter(prefix: str, county: str, group: str) -> str:
    """Shared subscription: collectors in one group split the event stream."""
    return f"$share/{group}/{prefix}/{county}/+/evt/#"


def state_filter(prefix: str, county: str) -> str:
    """Not shared: retained states are not sent to shared subscriptions."""
    return f"{prefix}/{county}/+/state"


def collector_claim_topic(prefix: str, group: str, client_id: str) -> str:
    """Retained: which store a collector of ``group`` writes to (station/collector.py)."""
    return f"{prefix}/_collectors/{group}/{client_id}"


def collector_claims_filter(prefix: str, group: str) -> str:
    return f"{prefix}/_collectors/{group}/+"


def parse_topic(topic: str, prefix: str) -> Topic:
    """County, device and event kind (None: state) of a topic a kiosk publishes to."""
    if not topic.startswith(prefix + "/"):
        raise TopicError(f"topic {topic!r} is not under {prefix!r}")
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) == 4 and parts[2] == "evt":
        return Topic(parts[0], parts[1], parts[3])
    if len(parts) == 3 and parts[2] == "state":
        return Topic(parts[0], parts[1], None)
    raise TopicError(f"topic {topic!r} is neither .../evt/<kind> nor .../state")
