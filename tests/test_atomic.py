"""pvshare.files.atomic: the one atomic-write helper (real files, real write failures)."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import stat

import pytest

from pvshare.files.atomic import PRIVATE, atomic_writes, write_atomic


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def file_size_limit():
    """``with file_size_limit(n):`` the kernel refuses writes beyond ``n`` bytes (EFBIG): a
    real failure in the middle of a write, as with a full disk. The limit is lifted at the
    end of the block, before pytest writes its report (its output may be a large file)."""
    @contextlib.contextmanager
    def limit(n: int):
        old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
        old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, old_limit[1]))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
            signal.signal(signal.SIGXFSZ, old_handler)

    return limit


def test_write_replaces_the_content_privately_by_default(tmp_path):
    target = tmp_path / "sub" / "report.html"
    assert write_atomic(target, "é1") == target            # folder created, str as UTF-8
    assert target.read_bytes() == "é1".encode()
    assert _mode(target) == PRIVATE == 0o600
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert _leftovers(target.parent) == []


def test_mode_none_is_what_open_would_give_and_an_explicit_mode_is_exact(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "a", "x", mode=None)
        (tmp_path / "b").write_text("x")                      # the reference: plain open()
        write_atomic(tmp_path / "c", "x", mode=0o644)         # the umask would remove o+r
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a") == _mode(tmp_path / "b") == 0o640
    assert _mode(tmp_path / "c") == 0o644


def test_a_failure_mid_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, file_size_limit):
    target = tmp_path / "status.json"
    target.write_text("old content")
    with file_size_limit(4096), pytest.raises(OSError) as err:
        write_atomic(target, b"n" * 100_000)                  # fails after 4096 bytes
    assert err.value.errno == 27                              # EFBIG: the write really failed
    assert target.read_text() == "old content"
    assert _leftovers(tmp_path) == []


def test_several_files_all_or_nothing(tmp_path, file_size_limit):
    a, b = tmp_path / "alloc.csv", tmp_path / "keys.csv"
    a.write_text("old a")
    # the block fails while writing its second file: neither target changes
    with pytest.raises(RuntimeError), atomic_writes(a, b) as (ta, tb):
        ta.write_text("new a")
        tb.write_text("partial")
        raise RuntimeError("computation failed half-way")
    assert a.read_text() == "old a" and not b.exists()
    assert _leftovers(tmp_path) == []
    # a real write failure (file too large) inside the block: same
    with file_size_limit(1000), pytest.raises(OSError), atomic_writes(a, b) as (ta, tb):
        ta.write_text("new a")
        tb.write_text("y" * 50_000)
    assert a.read_text() == "old a" and not b.exists()
    assert _leftovers(tmp_path) == []


def test_several_files_success_and_modes(tmp_path):
    a, b = tmp_path / "x" / "a.csv", tmp_path / "b.csv"
    with atomic_writes(a, b) as temps:
        assert [t.parent for t in temps] == [a.parent, b.parent]   # beside their targets
        assert all(t.name.startswith(".") and t.name.endswith(".tmp") for t in temps)
        temps[0].write_text("1")
        temps[1].write_text("2")
        assert not a.exists() and not b.exists()                   # not before the end
    assert (a.read_text(), b.read_text()) == ("1", "2")
    assert _mode(a) == _mode(b) == 0o600
    old = os.umask(0o022)
    try:
        with atomic_writes(b, mode=None) as (tb,):
            tb.write_text("3")
    finally:
        os.umask(old)
    assert b.read_text() == "3" and _mode(b) == 0o644
    assert _leftovers(tmp_path) == _leftovers(a.parent) == []
