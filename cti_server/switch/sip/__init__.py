"""SIP signalling for the switch: parser, SDP, transports, transactions, dialogs,
digest authentication, registrar and the user-agent core (see docs/sip.md).

Media is not handled here (rtpengine does it); this package only deals with
SIP and SDP text.
"""

from cti_server.switch.sip.auth import (
    ClientCredentials,
    DigestAuthenticator,
    Ha1,
    compute_ha1,
    compute_response,
)
from cti_server.switch.sip.dialog import Dialog, DialogState, SessionTimer
from cti_server.switch.sip.message import (
    Headers,
    NameAddr,
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    StreamParser,
    Uri,
    Via,
    make_response,
    parse_message,
    parse_name_addr,
    parse_uri,
    parse_via,
)
from cti_server.switch.sip.registrar import (
    Binding,
    Registrar,
    RegistrationEvent,
    RegistrationKind,
)
from cti_server.switch.sip.sdp import (
    SdpParseError,
    SessionDescription,
    audio_answer,
    audio_offer,
    parse_sdp,
    with_direction,
)
from cti_server.switch.sip.stack import (
    BaseCallHandler,
    CallHandler,
    IncomingCall,
    InviteResult,
    OutgoingCall,
    SipConfig,
    SipStack,
)
from cti_server.switch.sip.transaction import TimerConfig

__all__ = [
    "BaseCallHandler",
    "Binding",
    "CallHandler",
    "ClientCredentials",
    "Dialog",
    "DialogState",
    "DigestAuthenticator",
    "Ha1",
    "Headers",
    "IncomingCall",
    "InviteResult",
    "NameAddr",
    "OutgoingCall",
    "Registrar",
    "RegistrationEvent",
    "RegistrationKind",
    "SdpParseError",
    "SessionDescription",
    "SessionTimer",
    "SipConfig",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "SipStack",
    "StreamParser",
    "TimerConfig",
    "Uri",
    "Via",
    "audio_answer",
    "audio_offer",
    "compute_ha1",
    "compute_response",
    "make_response",
    "parse_message",
    "parse_name_addr",
    "parse_sdp",
    "parse_uri",
    "parse_via",
    "with_direction",
]
