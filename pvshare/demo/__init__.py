"""``pvshare demo``: the whole building (simulators, broker, daemon) at high speed, no hardware."""
