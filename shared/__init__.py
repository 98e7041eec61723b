"""Code shared by the agent desktop, the CTI server and the switch.

Nothing in this package performs I/O on import; ``shared.protocol`` performs no
I/O at all (enforced by the import contract in ``pyproject.toml``).
"""
