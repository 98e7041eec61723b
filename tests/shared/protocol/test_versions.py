"""Protocol 1.1, 1.2 and 1.3: what they add, how versions are negotiated, and that 1.0
is unchanged.

1.1 adds switch look-ups (R-IVR-1 tier-specific self-service), agent states for the
switch's fallback ACD and the operating-mode notice (R-IN-3), and consultation actions
on the switch link (R-IN-8). 1.2 adds ``switch.flow_get`` (the switch fetches IVR flow
versions, R-IVR-5). 1.3 adds the agent desktop's ``web.token``, ``call.wrap_up`` and
``desktop.directory`` and the optional field ``welcome.role``, which a sender leaves out
for an older peer. A 1.0 peer must keep working: it negotiates 1.0, and nothing a 1.0
peer sends or receives changed shape.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import msgspec
import pytest

from shared.protocol import (
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    VERSION_1_0,
    VERSION_1_1,
    VERSION_1_2,
    VERSION_1_3,
    ErrorCode,
    Link,
    ProtocolError,
    ProtocolVersion,
    decode,
    decode_client,
    decode_server,
    encode,
    for_version,
    negotiate_version,
    requires_version,
    speaks,
)
from shared.protocol.agent import AgentState
from shared.protocol.call import AgentDestination, CallWrapUp
from shared.protocol.handshake import Welcome
from shared.protocol.responses import AnyResultBody, Result
from shared.protocol.switch import (
    MAX_SNAPSHOT_AGENTS,
    AgentsSnapshot,
    Consult,
    LookupResult,
    SwitchAction,
    SwitchAgentEntry,
    SwitchCommand,
    SwitchLookup,
)
from tests.shared.protocol.examples import (
    CALL,
    CONSULT,
    EXAMPLES,
    PIN,
    SWITCH_ACTIONS,
    T0,
    VARIANTS,
    WEB_TOKEN,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"
NEW_IN_1_1 = {"switch.lookup", "switch.agents_snapshot", "switch.agent_state", "system.mode"}
NEW_BODIES_1_1 = {"switch.lookup", "switch.agents_snapshot"}
NEW_ACTIONS_1_1 = {"consult", "consult_drop", "transfer_consult"}
NEW_IN_1_2 = {"switch.flow_get", "system.notice", "switch.prompt_index", "switch.prompt_get"}
NEW_BODIES_1_2 = {"switch.flow_get", "switch.prompt_index", "switch.prompt_get"}
NEW_IN_1_3 = {"web.token", "call.wrap_up", "desktop.directory", "switch.recording_put"}
NEW_BODIES_1_3 = {"web.token", "call.wrap_up", "desktop.directory", "switch.recording_put"}
SWITCH_1_3 = {"switch.recording_put"}
FIELDS_1_3 = {"welcome": ("role",)}
"""Optional fields 1.3 added to 1.0 types (left out on the wire for older peers)."""
BODY_FIELDS_1_3 = {"switch.route_response": ("record",)}
"""Optional fields 1.3 added to 1.0 result bodies (left out for older peers)."""
NEW_TYPES = NEW_IN_1_1 | NEW_IN_1_2 | NEW_IN_1_3
NEW_BODIES = NEW_BODIES_1_1 | NEW_BODIES_1_2 | NEW_BODIES_1_3

# The top-level fields of everything 1.0 defined, as released. 1.1 may add types and
# kinds, never a field here (an encoder writes every field, so a 1.0 peer would see it).
MESSAGES_1_0: dict[str, tuple[str, ...]] = {
    "agent.end_after_call_work": ("id",),
    "agent.logged_off": ("seq", "ts", "agent_id", "reason", "reason_code", "forced_by"),
    "agent.logged_on": ("seq", "ts", "agent_id", "extension", "display_name", "skills", "queues"),
    "agent.login": ("id", "extension", "initial_state", "reason_code"),
    "agent.logout": ("id", "reason_code"),
    "agent.not_ready": ("seq", "ts", "agent_id", "reason_code", "reason_label", "forced_by"),
    "agent.ready": ("seq", "ts", "agent_id"),
    "agent.reserved": ("seq", "ts", "agent_id", "call_id", "expires_at"),
    "agent.set_after_call_work": ("id", "call_id"),
    "agent.set_not_ready": ("id", "reason_code"),
    "agent.set_ready": ("id",),
    "agent.work_not_ready": ("seq", "ts", "agent_id", "call_id", "deadline"),
    "call.answer": ("id", "call_id"),
    "call.conference": ("id", "call_id", "consult_call_id"),
    "call.conferenced": ("seq", "ts", "call_id", "agent_id", "parties"),
    "call.connection_cleared": ("seq", "ts", "call_id", "agent_id", "cause", "released_by"),
    "call.consult": ("id", "call_id", "destination"),
    "call.delivered": (
        "seq",
        "ts",
        "call_id",
        "agent_id",
        "caller",
        "called",
        "tier",
        "queue_id",
        "skill",
        "business_selection",
        "customer_ref",
        "customer_name",
        "wait_seconds",
        "ring_timeout_seconds",
        "consult_of",
        "from_agent",
        "trajectory",
    ),
    "call.diverted": ("seq", "ts", "call_id", "agent_id", "reason"),
    "call.established": ("seq", "ts", "call_id", "agent_id"),
    "call.failed": ("seq", "ts", "call_id", "agent_id", "cause", "detail"),
    "call.held": ("seq", "ts", "call_id", "agent_id"),
    "call.hold": ("id", "call_id"),
    "call.originated": ("seq", "ts", "call_id", "agent_id", "destination", "consult_of"),
    "call.reconnect": ("id", "call_id", "consult_call_id"),
    "call.release": ("id", "call_id"),
    "call.retrieve": ("id", "call_id"),
    "call.retrieved": ("seq", "ts", "call_id", "agent_id"),
    "call.send_dtmf": ("id", "call_id", "digits"),
    "call.single_step_transfer": ("id", "call_id", "destination"),
    "call.transfer": ("id", "call_id", "consult_call_id"),
    "call.transferred": ("seq", "ts", "call_id", "agent_id", "from_agent", "to", "new_call_id"),
    "error": ("id", "code", "message", "detail"),
    "hello": ("id", "versions", "kind", "credentials", "client_name", "client_version", "resume"),
    "logout": ("id",),
    "ping": ("id",),
    "pong": ("id", "server_time"),
    "result": ("id", "body"),
    "snapshot": ("id",),
    "supervisor.agent_status": (
        "seq",
        "ts",
        "agent_id",
        "state",
        "since",
        "reason_code",
        "call_id",
        "queues",
    ),
    "supervisor.force_logout": ("id", "agent_id", "reason_code"),
    "supervisor.force_state": ("id", "agent_id", "state", "reason_code"),
    "supervisor.monitor": ("id", "agent_id", "mode"),
    "supervisor.monitor_ended": ("seq", "ts", "monitor_id", "reason"),
    "supervisor.monitor_stop": ("id", "monitor_id"),
    "supervisor.queue_stats": (
        "seq",
        "ts",
        "queue_id",
        "waiting",
        "longest_wait_seconds",
        "agents",
        "service_level",
    ),
    "supervisor.subscribe": ("id", "queues", "tiers", "agents"),
    "supervisor.tier_stats": (
        "seq",
        "ts",
        "tier",
        "waiting",
        "longest_wait_seconds",
        "service_level",
    ),
    "supervisor.unsubscribe": ("id", "subscription_id"),
    "switch.call_event": (
        "id",
        "call_id",
        "kind",
        "leg",
        "at",
        "agent_id",
        "node",
        "queue_id",
        "dtmf",
        "cause",
        "detail",
    ),
    "switch.command": ("seq", "ts", "command_id", "call_id", "action", "expires_at"),
    "switch.command_result": ("id", "command_id", "ok", "code", "message"),
    "switch.fallback_report": ("id", "link_down_at", "link_up_at", "part", "last_part", "calls"),
    "switch.registration": (
        "id",
        "sip_user",
        "registered",
        "contact",
        "expires_seconds",
        "user_agent",
    ),
    "switch.route_request": (
        "id",
        "call_id",
        "stage",
        "caller",
        "called",
        "trunk",
        "business_selection",
        "tier",
        "queue_id",
        "trajectory",
    ),
    "welcome": (
        "id",
        "session_id",
        "version",
        "principal",
        "heartbeat_seconds",
        "resumed",
        "last_seq",
        "server_time",
    ),
}
BODIES_1_0: dict[str, tuple[str, ...]] = {
    "snapshot": ("last_seq", "agent", "calls"),
    "call.consult": ("consult_call_id",),
    "supervisor.subscribe": ("subscription_id",),
    "supervisor.monitor": ("monitor_id", "call_id"),
    "switch.route_response": (
        "customer_id",
        "tier",
        "blacklisted",
        "flow_id",
        "flow_version",
        "skip_ivr",
        "queue_id",
        "skill",
        "priority",
        "agent",
        "explanation",
    ),
}
ACTIONS_1_0: dict[str, tuple[str, ...]] = {
    "offer_to_agent": ("agent_id", "sip_contact", "ring_timeout_seconds", "caller_display"),
    "bridge": ("agent_id",),
    "play": ("prompt", "loop", "interruptible"),
    "transfer": ("destination", "agent_sip_contact"),
    "hangup": ("leg", "cause"),
    "hold": ("agent_id",),
    "unhold": ("agent_id",),
    "record_start": ("recording_id",),
    "record_stop": ("recording_id",),
    "monitor": ("monitor_id", "agent_id", "supervisor_id", "supervisor_contact", "mode"),
    "monitor_stop": ("monitor_id",),
    "conference": ("consult_call_id",),
    "send_dtmf": ("digits", "leg"),
}


def _v(major: int, minor: int) -> ProtocolVersion:
    return ProtocolVersion(major=major, minor=minor)


def _fields(cls: type[msgspec.Struct]) -> tuple[str, ...]:
    return tuple(field.encode_name for field in msgspec.structs.fields(cls))


def _tag(cls: type[msgspec.Struct]) -> str:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


# --- negotiation ---------------------------------------------------------------------


def test_this_code_speaks_1_3() -> None:
    assert PROTOCOL_VERSION == VERSION_1_3 == _v(1, 3)
    assert str(PROTOCOL_VERSION) == "1.3"
    assert SUPPORTED_VERSIONS == (VERSION_1_3,)


def test_a_1_0_only_client_negotiates_1_0() -> None:
    """An old desktop or switch keeps working against a 1.1 server."""
    assert negotiate_version([VERSION_1_0]) == VERSION_1_0


def test_a_1_1_client_gets_1_1_and_a_1_0_server_gives_it_1_0() -> None:
    assert negotiate_version([VERSION_1_1]) == VERSION_1_1
    assert negotiate_version([VERSION_1_1, _v(2, 0)]) == VERSION_1_1
    assert negotiate_version([VERSION_1_1], supported=[VERSION_1_0]) == VERSION_1_0


def test_a_1_2_client_keeps_1_2_and_a_later_minor_client_gets_1_3() -> None:
    assert negotiate_version([VERSION_1_2]) == VERSION_1_2
    assert negotiate_version([_v(1, 7)]) == VERSION_1_3
    assert negotiate_version([VERSION_1_3]) == VERSION_1_3
    assert negotiate_version([VERSION_1_3], supported=[VERSION_1_2]) == VERSION_1_2
    assert negotiate_version([VERSION_1_2], supported=[VERSION_1_1]) == VERSION_1_1


def test_no_common_major_reports_1_3_as_supported() -> None:
    with pytest.raises(ProtocolError) as info:
        negotiate_version([_v(2, 0)])
    assert info.value.code is ErrorCode.UNSUPPORTED_VERSION
    assert info.value.detail["supported"] == "1.3"


# --- what each message needs -----------------------------------------------------------


def test_every_1_0_example_needs_only_1_0() -> None:
    old = [
        msg
        for msg in (*EXAMPLES.values(), *VARIANTS)
        if msg.type_tag() not in NEW_TYPES
        and not (isinstance(msg, Result) and _body_tag(msg) in NEW_BODIES)
        and not (isinstance(msg, SwitchCommand) and _tag(type(msg.action)) in NEW_ACTIONS_1_1)
        and not (isinstance(msg, Welcome) and msg.role is not msgspec.UNSET)
    ]
    assert len(old) > 60
    for msg in old:
        assert requires_version(msg) == VERSION_1_0, msg.type_tag()
        assert speaks(VERSION_1_0, msg)
        assert speaks(VERSION_1_1, msg)


def _body_tag(msg: Result) -> str | None:
    return None if msg.body is None else _tag(type(msg.body))


@pytest.mark.parametrize("tag", sorted(NEW_IN_1_1))
def test_new_message_types_need_1_1(tag: str) -> None:
    msg = EXAMPLES[tag]
    assert requires_version(msg) == VERSION_1_1
    assert not speaks(VERSION_1_0, msg)
    assert speaks(VERSION_1_1, msg)
    assert speaks(_v(1, 4), msg)
    assert not speaks(_v(2, 0), msg)


def test_a_result_or_command_carrying_a_1_1_kind_needs_1_1() -> None:
    """The server must not send a lookup result or a consult command to a 1.0 peer."""
    lookup = Result(id=5, body=LookupResult(values={"balance": "12.00"}))
    snapshot = Result(id=6, body=AgentsSnapshot(last_seq=0))
    consult = SwitchCommand(
        command_id="cmd-1",
        call_id=CALL,
        action=Consult(consult_call_id=CONSULT, destination=AgentDestination(agent_id="a2")),
    )
    for msg in (lookup, snapshot, consult):
        assert requires_version(msg) == VERSION_1_1
        assert not speaks(VERSION_1_0, msg)
    new_actions = [a for a in SWITCH_ACTIONS if _tag(type(a)) in NEW_ACTIONS_1_1]
    assert {_tag(type(a)) for a in new_actions} == NEW_ACTIONS_1_1
    for action in new_actions:
        command = SwitchCommand(command_id="cmd-2", call_id=CALL, action=action)
        assert not speaks(VERSION_1_0, command)


def test_1_1_lists_exactly_the_documented_additions() -> None:
    assert {t for t, c in MESSAGE_TYPES.items() if c.introduced_in == VERSION_1_1} == NEW_IN_1_1
    bodies = {_tag(c) for c in get_args(AnyResultBody) if c.introduced_in == VERSION_1_1}
    assert bodies == NEW_BODIES_1_1
    actions = {_tag(c) for c in get_args(SwitchAction) if c.introduced_in == VERSION_1_1}
    assert actions == NEW_ACTIONS_1_1


def test_1_2_adds_flow_get_and_notices_and_a_1_1_peer_never_gets_them() -> None:
    """R-IVR-5: ``switch.flow_get`` and its result need 1.2; R-BIZ-5: so does
    ``system.notice``; 1.1 is unchanged by them."""
    assert {t for t, c in MESSAGE_TYPES.items() if c.introduced_in == VERSION_1_2} == NEW_IN_1_2
    bodies = {_tag(c) for c in get_args(AnyResultBody) if c.introduced_in == VERSION_1_2}
    assert bodies == NEW_BODIES_1_2
    assert not {_tag(c) for c in get_args(SwitchAction) if c.introduced_in == VERSION_1_2}
    notice = EXAMPLES["system.notice"]
    assert requires_version(notice) == VERSION_1_2
    assert not speaks(VERSION_1_1, notice) and speaks(VERSION_1_2, notice)
    assert decode_server(encode(notice)) == notice
    request = EXAMPLES["switch.flow_get"]
    result = next(
        m for m in VARIANTS if isinstance(m, Result) and _body_tag(m) == "switch.flow_get"
    )
    for msg in (request, result):
        assert requires_version(msg) == VERSION_1_2
        assert not speaks(VERSION_1_1, msg)
        assert speaks(VERSION_1_2, msg)
    assert decode_client(encode(request), link=Link.SWITCH) == request
    assert decode_server(encode(result), link=Link.SWITCH) == result
    with pytest.raises(ProtocolError) as bad:  # a version 0 is not a version
        decode_client(
            b'{"type":"switch.flow_get","id":3,"flow_id":"default","version":0}', link=Link.SWITCH
        )
    assert bad.value.code is ErrorCode.INVALID_FIELD


# --- 1.0 unchanged ---------------------------------------------------------------------


def test_nothing_1_0_defined_changed_shape() -> None:
    later = {t: set(c.fields_introduced_in) for t, c in MESSAGE_TYPES.items()}
    assert {t: tuple(f) for t, f in later.items() if f} == FIELDS_1_3
    assert {
        t: tuple(f for f in _fields(c) if f not in later[t])
        for t, c in MESSAGE_TYPES.items()
        if t not in NEW_TYPES
    } == MESSAGES_1_0
    bodies = {
        _tag(c): tuple(f for f in _fields(c) if f not in c.fields_introduced_in)
        for c in get_args(AnyResultBody)
    }
    assert {
        _tag(c): tuple(c.fields_introduced_in)
        for c in get_args(AnyResultBody)
        if c.fields_introduced_in
    } == BODY_FIELDS_1_3
    assert {k: v for k, v in bodies.items() if k not in NEW_BODIES} == BODIES_1_0
    actions = {_tag(c): _fields(c) for c in get_args(SwitchAction)}
    assert {k: v for k, v in actions.items() if k not in NEW_ACTIONS_1_1} == ACTIONS_1_0


# --- the docs say which version each thing needs ----------------------------------------


def _since_column(header: str) -> dict[str, str]:
    """``name → since`` for the rows of every table whose header starts with ``header``."""
    rows: dict[str, str] = {}
    in_table = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.strip().startswith("|") and cells[:2] == [header, "since"]:
            in_table = True
            continue
        if not line.strip().startswith("|"):
            in_table = False
        elif in_table and (match := re.fullmatch(r"`([a-z_.]+)`(?: / `([a-z_.]+)`)?", cells[0])):
            for name in match.groups():
                if name:
                    rows[name] = cells[1]
    return rows


def test_docs_mark_the_version_of_every_message_type() -> None:
    since = _since_column("type")
    assert {t: since.get(t) for t in MESSAGE_TYPES} == {
        t: str(c.introduced_in) for t, c in MESSAGE_TYPES.items()
    }


def test_docs_mark_the_version_of_every_result_body_and_switch_action() -> None:
    bodies = _since_column("`body.kind`")
    assert {_tag(c): bodies.get(_tag(c)) for c in get_args(AnyResultBody)} == {
        _tag(c): str(c.introduced_in) for c in get_args(AnyResultBody)
    }
    actions = _since_column("kind")
    assert {_tag(c): actions.get(_tag(c)) for c in get_args(SwitchAction)} == {
        _tag(c): str(c.introduced_in) for c in get_args(SwitchAction)
    }


# --- the new messages on the wire ----------------------------------------------------


def test_new_types_are_accepted_only_on_their_link_and_direction() -> None:
    lookup = encode(EXAMPLES["switch.lookup"])
    assert decode_client(lookup, link=Link.SWITCH) == EXAMPLES["switch.lookup"]
    with pytest.raises(ProtocolError) as info:
        decode_client(lookup)  # a desktop may not look up on the switch's behalf
    assert info.value.code is ErrorCode.UNEXPECTED_TYPE

    mode = encode(EXAMPLES["system.mode"])
    assert decode_server(mode) == EXAMPLES["system.mode"]
    with pytest.raises(ProtocolError) as info:
        decode_server(mode, link=Link.SWITCH)
    assert info.value.code is ErrorCode.UNEXPECTED_TYPE
    with pytest.raises(ProtocolError) as info:
        decode_client(mode)
    assert info.value.code is ErrorCode.NOT_A_REQUEST

    state = encode(EXAMPLES["switch.agent_state"])
    assert decode_server(state, link=Link.SWITCH) == EXAMPLES["switch.agent_state"]
    with pytest.raises(ProtocolError) as info:
        decode_server(state)
    assert info.value.code is ErrorCode.UNEXPECTED_TYPE


def test_lookup_pins_are_masked_in_repr_but_sent_on_the_wire() -> None:
    msg = EXAMPLES["switch.lookup"]
    assert isinstance(msg, SwitchLookup)
    rich = dict(msg.__rich_repr__())
    for text in (repr(msg), str(msg), str(rich)):
        assert PIN not in text
        assert "6222020200112233" in text and "account_balance" in text
    assert json.loads(encode(msg))["args"]["pin"] == PIN
    decoded = decode_client(encode(msg), link=Link.SWITCH)
    assert isinstance(decoded, SwitchLookup)
    assert decoded.args["pin"] == PIN


@pytest.mark.parametrize("key", ["pin", "new_PIN", "Password", "client_secret", "cardPin2"])
def test_any_key_naming_a_pin_password_or_secret_is_masked(key: str) -> None:
    lookup = SwitchLookup(id=1, call_id=CALL, service="verify", args={key: "s3cr3t-v4lue"})
    result = LookupResult(values={key: "s3cr3t-v4lue", "status": "ok"})
    for text in (repr(lookup), repr(result), str(dict(result.__rich_repr__()))):
        assert "s3cr3t-v4lue" not in text
    assert "'status': 'ok'" in repr(result)


def _lookup_frame(args: object) -> str:
    return json.dumps(
        {"type": "switch.lookup", "id": 9, "call_id": CALL, "service": "balance", "args": args}
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({f"k{i}": "v" for i in range(33)}, "length <= 32"),
        ({"account": "9" * 257}, "length <= 256"),
        ({"account": 42}, "Expected `str`"),
        ({"two words": "x"}, "a key"),
        ({"": "x"}, "a key"),
        ({"k" * 65: "x"}, "a key"),
    ],
)
def test_lookup_args_out_of_bounds_are_invalid_field_at_args(args: object, needle: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_client(_lookup_frame(args), link=Link.SWITCH)
    assert info.value.code is ErrorCode.INVALID_FIELD
    assert info.value.detail["path"] in {"$.args", "$.args[...]"}
    assert needle in info.value.message
    assert info.value.request_id == 9
    assert info.value.detail.get("key", False) is (needle == "a key")
    assert "expected" in info.value.detail


def test_lookup_args_at_the_bounds_are_accepted() -> None:
    args = {f"k{i:02d}": "9" * 256 for i in range(32)}
    msg = decode_client(_lookup_frame(args), link=Link.SWITCH)
    assert isinstance(msg, SwitchLookup) and msg.args == args


def test_lookup_without_args_has_empty_args() -> None:
    frame = json.dumps({"type": "switch.lookup", "id": 3, "call_id": CALL, "service": "hours"})
    msg = decode_client(frame, link=Link.SWITCH)
    assert isinstance(msg, SwitchLookup) and msg.args == {}


def _full_snapshot(count: int) -> Result:
    """``count`` agents with every field at its longest: the largest possible frame."""
    return Result(
        id=2**53 - 1,
        body=AgentsSnapshot(
            last_seq=2**53 - 1,
            agents=tuple(
                SwitchAgentEntry(
                    agent_id=f"{i:064d}",
                    state=AgentState.WORK_NOT_READY,
                    since=T0 + i / 7,
                    reason_code="r" * 32,
                    sip_user=f"{i:064d}",
                )
                for i in range(count)
            ),
        ),
    )


def test_a_full_agents_snapshot_fits_the_switch_frame_limit() -> None:
    """10,000 agents with the longest ids decode with the switch link's default limit."""
    full = _full_snapshot(MAX_SNAPSHOT_AGENTS)
    data = encode(full)
    assert len(data) > 1024 * 1024  # too big for the CTI link's default …
    assert decode_server(data, link=Link.SWITCH) == full  # … fine for a switch
    with pytest.raises(ProtocolError) as info:
        decode_server(data)
    assert info.value.code is ErrorCode.FRAME_TOO_LARGE


def test_more_agents_than_the_bound_are_invalid_field() -> None:
    data = encode(_full_snapshot(MAX_SNAPSHOT_AGENTS + 1))
    with pytest.raises(ProtocolError) as info:
        decode_server(data, link=Link.SWITCH, max_bytes=len(data))
    assert info.value.code is ErrorCode.INVALID_FIELD
    assert info.value.detail["path"] == "$.body.agents"


def test_consult_to_an_agent_round_trips_with_its_destination() -> None:
    command = SwitchCommand(
        seq=5,
        ts=T0,
        command_id="cmd-9",
        call_id=CALL,
        action=Consult(
            consult_call_id=CONSULT,
            destination=AgentDestination(agent_id="a1002"),
            agent_sip_contact="sip:1002@10.0.0.18",
        ),
    )
    obj = json.loads(encode(command))
    assert obj["action"] == {
        "kind": "consult",
        "consult_call_id": CONSULT,
        "destination": {"kind": "agent", "agent_id": "a1002"},
        "agent_sip_contact": "sip:1002@10.0.0.18",
        "ring_timeout_seconds": 20.0,
    }
    assert decode_server(encode(command), link=Link.SWITCH) == command
    del obj["action"]["destination"]
    with pytest.raises(ProtocolError) as info:
        decode(json.dumps(obj))
    assert info.value.code is ErrorCode.MISSING_FIELD
    assert info.value.detail["path"] == "$.action.destination"


# --- 1.3: the agent desktop ------------------------------------------------------------


def _welcome(**fields: object) -> Welcome:
    base: dict[str, object] = {
        "id": 1,
        "session_id": "s-1",
        "version": VERSION_1_3,
        "principal": "1001",
        "heartbeat_seconds": 15.0,
        "server_time": T0,
    }
    return Welcome(**{**base, **fields})  # type: ignore[arg-type]


class _Welcome12(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="welcome"):
    """``welcome`` exactly as a 1.2 client defines it (fields of 1.0, nothing more)."""

    id: int
    session_id: str
    version: dict[str, int]
    principal: str
    heartbeat_seconds: float
    resumed: bool = False
    last_seq: int = 0
    server_time: float


def test_1_3_adds_the_desktop_requests_and_a_1_2_peer_never_gets_them() -> None:
    assert {t for t, c in MESSAGE_TYPES.items() if c.introduced_in == VERSION_1_3} == NEW_IN_1_3
    bodies = {_tag(c) for c in get_args(AnyResultBody) if c.introduced_in == VERSION_1_3}
    assert bodies == NEW_BODIES_1_3
    results = [m for m in VARIANTS if isinstance(m, Result) and _body_tag(m) in NEW_BODIES_1_3]
    assert {_body_tag(m) for m in results} == NEW_BODIES_1_3
    for msg in [*(EXAMPLES[t] for t in NEW_IN_1_3), *results]:
        assert requires_version(msg) == VERSION_1_3, msg
        assert not speaks(VERSION_1_2, msg) and speaks(VERSION_1_3, msg)
        assert not speaks(_v(2, 0), msg)
    for tag in NEW_IN_1_3 - SWITCH_1_3:  # desktop → server on the CTI link only
        data = encode(EXAMPLES[tag])
        assert decode_client(data) == EXAMPLES[tag]
        with pytest.raises(ProtocolError) as info:
            decode_client(data, link=Link.SWITCH)
        assert info.value.code is ErrorCode.UNEXPECTED_TYPE
    for tag in SWITCH_1_3:  # switch → server on the switch link only
        data = encode(EXAMPLES[tag])
        assert decode_client(data, link=Link.SWITCH) == EXAMPLES[tag]
        with pytest.raises(ProtocolError) as info:
            decode_client(data)
        assert info.value.code is ErrorCode.UNEXPECTED_TYPE
    for msg in results:
        assert decode_server(encode(msg)) == msg


def test_welcome_role_is_left_out_for_older_peers() -> None:
    """``welcome.role`` (1.3) is the only field added to a 1.0 type: set, it needs 1.3;
    :func:`for_version` drops it for a 1.2 (or older) session, whose frame then has
    exactly the 1.0 fields; a 1.3 client decoding such a frame gets no role."""
    lead = _welcome(role="team_lead")
    tool = _welcome(role=None)
    for msg in (lead, tool):
        assert requires_version(msg) == VERSION_1_3
        assert not speaks(VERSION_1_2, msg)
        assert for_version(VERSION_1_3, msg) is msg
    assert lead.principal_role == "team_lead" and tool.principal_role is None
    assert json.loads(encode(tool))["role"] is None  # a 1.3 switch sees role: null
    for old in (VERSION_1_0, VERSION_1_1, VERSION_1_2):
        down = for_version(old, lead)
        assert down.role is msgspec.UNSET and down.principal_role is None
        assert requires_version(down) == VERSION_1_0 and speaks(old, down)
        frame = json.loads(encode(down))
        assert tuple(frame) == ("type", *MESSAGES_1_0["welcome"])
        assert decode_server(encode(down)) == down
    # a 1.2 client's own definition reads a 1.3 welcome (unknown fields are ignored)
    old_client = msgspec.json.decode(encode(lead), type=_Welcome12)
    assert old_client.principal == "1001" and old_client.version == {"major": 1, "minor": 3}
    bad = json.loads(encode(lead))
    bad["role"] = ""
    with pytest.raises(ProtocolError) as info:
        decode_server(json.dumps(bad))
    assert info.value.code is ErrorCode.INVALID_FIELD and info.value.detail["path"] == "$.role"


@pytest.mark.parametrize(
    ("frame", "path"),
    [
        ({"type": "web.token", "id": 3, "next_path": "/api/v1/agents"}, "$.next_path"),
        ({"type": "web.token", "id": 3, "next_path": "https://evil.example/ui/"}, "$.next_path"),
        ({"type": "web.token", "id": 3, "next_path": "/ui/a b"}, "$.next_path"),
        ({"type": "web.token", "id": 3, "next_path": "/ui/\\\\evil"}, "$.next_path"),
        ({"type": "call.wrap_up", "id": 3, "call_id": CALL, "notes": "x" * 4001}, "$.notes"),
        ({"type": "call.wrap_up", "id": 3, "call_id": CALL, "notes": 7}, "$.notes"),
        (
            {"type": "call.wrap_up", "id": 3, "call_id": CALL, "notes": "", "category": ""},
            "$.category",
        ),
        (
            {"type": "call.wrap_up", "id": 3, "call_id": CALL, "notes": "", "category": "a\nb"},
            "$.category",
        ),
        (
            {"type": "call.wrap_up", "id": 3, "call_id": CALL, "notes": "", "category": "c" * 65},
            "$.category",
        ),
    ],
)
def test_bad_desktop_requests_are_invalid_field_with_their_path(
    frame: dict[str, object], path: str
) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_client(json.dumps(frame))
    assert info.value.code is ErrorCode.INVALID_FIELD
    assert info.value.detail["path"] == path and info.value.request_id == 3


def test_wrap_up_bounds_and_masked_web_token() -> None:
    longest = CallWrapUp(id=4, call_id=CALL, notes="字" * 4000, category="受理.宽带" * 8)
    assert decode_client(encode(longest)) == longest
    missing = json.dumps({"type": "call.wrap_up", "id": 5, "call_id": CALL})
    with pytest.raises(ProtocolError) as info:
        decode_client(missing)
    assert info.value.code is ErrorCode.MISSING_FIELD
    token = next(m.body for m in VARIANTS if isinstance(m, Result) and _body_tag(m) == "web.token")
    assert token is not None
    assert WEB_TOKEN not in repr(token) and WEB_TOKEN not in str(dict(token.__rich_repr__()))
    assert WEB_TOKEN in encode(Result(id=9, body=token)).decode()
    directory = next(
        m.body for m in VARIANTS if isinstance(m, Result) and _body_tag(m) == "desktop.directory"
    )
    assert directory is not None
    survey = directory.ivr_targets[0]  # type: ignore[union-attr]
    assert survey.destination().flow_id == "survey" and survey.destination().node is None
