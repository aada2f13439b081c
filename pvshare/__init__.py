"""pvshare: run a collective solar self-consumption operation (ACC).

The functional core (``allocation``, ``energy``, ``forecast`` models, report analysis) is made
of pure functions over numpy arrays; the shell (``meters``, ``store``, ``daemon``, ``cli``,
``simulators``) does the I/O and calls it.
"""

__version__ = "0.1.0"
