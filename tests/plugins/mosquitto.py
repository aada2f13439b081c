"""pytest fixtures of the real mosquitto server (see its owner's module docstring)."""
