"""Live operation of the building: the daemon (imperative shell) and its functional core.

- :mod:`~pvshare.live.closing`: stored readings → energy per step → allocation (pure in
  ``now``: a function of the store and the clock);
- :mod:`~pvshare.live.daemon`: ``pvshare run``, meters → store → closing → outputs;
- :mod:`~pvshare.live.publish`: results to MQTT with Home Assistant discovery;
- :mod:`~pvshare.live.status`: ``pvshare status``;
- :mod:`~pvshare.live.sdnotify`: systemd notifications.
"""
