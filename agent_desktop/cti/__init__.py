"""The desktop's CTI link: :class:`~agent_desktop.cti.link.CtiLink` runs
:class:`shared.cti_client.CtiClient` on its own asyncio thread and hands results and
events to the GUI thread through Qt signals (QtCore only)."""

from agent_desktop.cti.link import CtiLink, LinkOffline, LinkState, backoff_delay

__all__ = ["CtiLink", "LinkOffline", "LinkState", "backoff_delay"]
