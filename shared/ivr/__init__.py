"""IVR flows as data: the flow document, its validation and an I/O-free interpreter.

* :mod:`shared.ivr.model` - the flow document (msgspec structs, JSON).
* :mod:`shared.ivr.validate` - ``validate(flow, prompt_ids=…) -> list[Problem]``.
* :mod:`shared.ivr.run` - ``FlowRun``: events in, actions out, trajectory kept.
* :mod:`shared.ivr.say` - numbers/amounts/digits as prompt-id sequences (en, zh).
* :mod:`shared.ivr.simulate` - dry runs for the flow designer.
* :mod:`shared.ivr.library` - shipped flows (``flows/*.json``) and the prompt manifest.

See ``docs/ivr.md``.
"""

from shared.ivr.library import default_flow, load_shipped_flow, parse_prompt_manifest
from shared.ivr.model import Flow, FlowFormatError, flow_to_dict, flow_to_json, parse_flow
from shared.ivr.run import CallContext, FlowRun, FlowRunError, Waiting
from shared.ivr.simulate import Simulation, simulate
from shared.ivr.validate import (
    FlowInvalid,
    Problem,
    Severity,
    ensure_valid,
    validate,
    validate_document,
)

__all__ = [
    "CallContext",
    "Flow",
    "FlowFormatError",
    "FlowInvalid",
    "FlowRun",
    "FlowRunError",
    "Problem",
    "Severity",
    "Simulation",
    "Waiting",
    "default_flow",
    "ensure_valid",
    "flow_to_dict",
    "flow_to_json",
    "load_shipped_flow",
    "parse_flow",
    "parse_prompt_manifest",
    "simulate",
    "validate",
    "validate_document",
]
