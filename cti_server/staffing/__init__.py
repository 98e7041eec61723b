"""Staffing calculators: Erlang B, Erlang C (M/M/n) and Erlang A (M/M/n+M).

Pure, I/O-free functions. Units: arrival rates per second, handle times,
patience and answer times in seconds, offered load in erlangs, service-level
targets and probabilities as fractions.
"""

from cti_server.staffing.erlang import (
    ErlangCResult,
    erlang_b,
    erlang_c,
    erlang_c_metrics,
)
from cti_server.staffing.erlang_a import ErlangAResult, erlang_a_metrics
from cti_server.staffing.sizing import (
    DEFAULT_MAX_AGENTS,
    agents_for_asa,
    agents_for_service_level,
    agents_for_service_level_with_abandonment,
)

__all__ = [
    "DEFAULT_MAX_AGENTS",
    "ErlangAResult",
    "ErlangCResult",
    "agents_for_asa",
    "agents_for_service_level",
    "agents_for_service_level_with_abandonment",
    "erlang_a_metrics",
    "erlang_b",
    "erlang_c",
    "erlang_c_metrics",
]
