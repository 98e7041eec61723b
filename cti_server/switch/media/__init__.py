"""Media-engine adapter of the switch: rtpengine driven over its ng protocol.

- :mod:`.bencode` — strict bencode codec (pure).
- :mod:`.ng` — ng message building (pure) and :class:`~.ng.NgClient` (asyncio UDP).
- :mod:`.dtmf` — rtpengine ``dtmf-log-dest`` JSON events → :class:`~.dtmf.DtmfEvent`.
- :mod:`.process` — :class:`~.process.RtpEngineProcess`, launches and supervises rtpengine.
- :mod:`.rtp` — RTP/RFC 4733 packets, G.711 µ-law and tone measurement (pure).

See docs/decisions/0001-switch-media-engine.md for why rtpengine.
"""
