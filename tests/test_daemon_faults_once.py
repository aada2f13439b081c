"""A fault that repeats is reported once, then once when it clears (issue 13, item 6).

The disk is made full for real: the process's file-size limit (RLIMIT_FSIZE) is set to the
store's current size, so SQLite's writes fail as on a full SD card (EFBIG, with SIGXFSZ
ignored), then the limit is lifted.
"""

from __future__ import annotations

import logging
import resource
import signal

from pvshare.config import load_config
from pvshare.live.daemon import Daemon
from pvshare.meters.base import Reading
from tests.daemon_support import write_config

T0 = 1750500000.0


def test_a_full_disk_is_logged_once_and_once_when_it_clears(tmp_path, caplog):
    cfg = load_config(write_config(tmp_path, broker_port=1, inverter_port=1,
                                   publish_results=False))
    d = Daemon(cfg, clock=lambda: T0, forecast=False, create_store=True)
    wal = d.store.path.with_name(d.store.path.name + "-wal")
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        with caplog.at_level(logging.INFO, logger="pvshare.live.daemon"):
            d._buffer.append(Reading("linky-A01", T0, import_wh=1000.0))
            assert d.flush(T0) == 1                       # the store works
            size = max(d.store.path.stat().st_size, wal.stat().st_size if wal.exists() else 0)
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
            for k in range(1, 60):                        # a minute of failed flushes
                d._buffer.extend(Reading("linky-A01", T0 + 60 * k + j, import_wh=1000.0 + k)
                                 for j in range(50))
                assert d.flush(T0 + 60 * k) == 0
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            assert d.flush(T0 + 3600) == 59 * 50          # nothing was lost meanwhile
            assert d.last_error is None
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
        d.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "flush failed" in errors[0].getMessage()
    back = [r.getMessage() for r in caplog.records if "works again" in r.getMessage()]
    assert back == ["flush works again (58 more occurrence(s) since the last message)"]
    assert d.counters["flush_errors"] == 59
