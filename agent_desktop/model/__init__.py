"""The desktop's Qt-free state model (observed by the widgets)."""

from agent_desktop.model.state import (
    Action,
    AgentView,
    CallPhase,
    CallView,
    Change,
    DesktopModel,
)

__all__ = ["Action", "AgentView", "CallPhase", "CallView", "Change", "DesktopModel"]
