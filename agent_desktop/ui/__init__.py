"""The desktop's Qt widgets (driven by the Qt-free models in ``agent_desktop.model``)."""
