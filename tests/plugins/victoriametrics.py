"""pytest fixtures of the real victoriametrics server (see its owner's module docstring)."""
