"""The softphone's conference port (a pjsua2 ``AudioMediaPort``).

Its frame callbacks run on the null sound device's media clock thread: they only touch
the deques of :class:`MediaBuffers`. Ports are never freed while the clock runs (the
bridge removes ports asynchronously, so a freed port could still be called): the engine
keeps them in a pool for the next softphone and frees them at exit after stopping the
clock.
"""

from __future__ import annotations

import logging

import pjsua2 as pj

from agent_desktop.softphone.audio import MediaBuffers

log = logging.getLogger("softphone.bridge")


class BridgePort(pj.AudioMediaPort):  # type: ignore[misc]
    """Conference port of the softphone. Called on the media clock thread: deques only.

    ``onFrameRequested``: the bridge takes mic audio (what the agent says);
    ``onFrameReceived``: the bridge gives what the calls say (for the speaker)."""

    def __init__(self, buffers: MediaBuffers) -> None:
        super().__init__()
        self.buffers = buffers
        self.muted = False
        self.frames_in = 0
        self.frames_out = 0
        self.errors = 0

    def onFrameRequested(self, frame: object) -> None:
        self.frames_out += 1
        try:
            data = self.buffers.mic.popleft()
        except IndexError:
            return
        if self.muted:
            return
        try:
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO  # type: ignore[attr-defined]
            frame.buf = pj.ByteVector(data)  # type: ignore[attr-defined]
            frame.size = len(data)  # type: ignore[attr-defined]
        except Exception:  # never raise into the media clock
            self._failed("onFrameRequested")

    def onFrameReceived(self, frame: object) -> None:
        self.frames_in += 1
        try:
            if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:  # type: ignore[attr-defined]
                self.buffers.speaker.append(bytes(frame.buf))  # type: ignore[attr-defined]
        except Exception:
            self._failed("onFrameReceived")

    def _failed(self, where: str) -> None:
        self.errors += 1
        if self.errors == 1:
            log.exception("%s failed (further errors not logged)", where)
