"""The agent's built-in softphone on pjsua2 (the only importer of pjsua2)."""

from agent_desktop.softphone.audio import AudioBackend, BufferBackend, QtAudioBackend
from agent_desktop.softphone.phone import Softphone
from agent_desktop.softphone.types import (
    MAX_CALLS,
    NO_DEVICE,
    AudioDevice,
    AudioDevices,
    DeviceCheck,
    SoftCall,
    SoftphoneConfig,
    SoftphoneError,
    TestCallResult,
    UnknownCallError,
)

__all__ = [
    "MAX_CALLS",
    "NO_DEVICE",
    "AudioBackend",
    "AudioDevice",
    "AudioDevices",
    "BufferBackend",
    "DeviceCheck",
    "QtAudioBackend",
    "SoftCall",
    "Softphone",
    "SoftphoneConfig",
    "SoftphoneError",
    "TestCallResult",
    "UnknownCallError",
]
