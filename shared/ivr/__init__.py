"""IVR flows as data: the flow document, its validation and an I/O-free interpreter."""
