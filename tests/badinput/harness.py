"""The bad-input harness: run one case end to end through the real ``pvshare`` command line
(``pvshare.cli.main``, in process, so that 150 cases run in seconds) and classify the outcome.

Outcomes
--------
``clean``
    A bad input refused with exit code 2, one message under 500 bytes, no traceback, naming
    what the case says it must name (the file, the line or the field); or a valid input
    accepted with exit code 0 (and, where the case asks for it, a warning naming the file).
``traceback``
    An exception escaped (a bug).
``silent``
    A bad input accepted with exit code 0 and no word about it.
``unclear``
    Refused, but the message is too long, does not name where, or echoes a secret.
``refused``
    A valid input refused.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MAX_MESSAGE = 500


@dataclass
class Case:
    """One corpus entry.

    ``build(tmp)`` writes the files it needs in ``tmp`` and returns the ``pvshare``
    arguments. ``expect`` is ``error`` (exit 2), ``ok`` (exit 0) or ``warn`` (exit 0 with a
    warning on stderr that mentions ``mention``; a clean error is accepted too).
    """

    id: str
    build: Callable[[Path], list[str]]
    expect: str = "error"
    mention: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    check: Callable[[Path], str | None] | None = None   # extra check after a run: a problem or None
    codes: tuple[int, ...] = (0,)                        # exit codes of a clean success


@dataclass
class Outcome:
    code: int | None
    stdout: str
    stderr: str
    error: str | None = None        # traceback text when an exception escaped
    verdict: str = ""
    why: str = ""
    notes: list[str] = field(default_factory=list)


def run_cli(args: list[str], cwd: Path) -> Outcome:
    """Run ``pvshare ARGS`` in process through the console-script entry point."""
    from pvshare.cli import main
    out, err = io.StringIO(), io.StringIO()
    code: int | None = 0
    tb = None
    old_argv, old_cwd = sys.argv, os.getcwd()
    sys.argv = ["pvshare", *args]
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # noqa: BLE001 - that is what the harness looks for
                tb = traceback.format_exc()
                code = None
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    return Outcome(code, out.getvalue(), err.getvalue(), tb)


def classify(case: Case, o: Outcome, tmp: Path) -> Outcome:
    """Set ``o.verdict`` (and ``o.why``) for ``case``."""
    text = o.stderr + o.stdout
    if o.error is not None or "Traceback (most recent call last)" in text:
        o.verdict, o.why = "traceback", (o.error or text).strip().splitlines()[-1][:300]
        return o
    leaked = [s for s in case.absent if s in text]
    extra = case.check(tmp) if case.check else None
    if case.expect == "ok":
        if o.code not in case.codes:
            o.verdict, o.why = "refused", o.stderr.strip()[:300]
        elif leaked or extra:
            o.verdict, o.why = "unclear", f"leaked {leaked}" if leaked else extra
        else:
            o.verdict = "clean"
        return o
    if o.code == 0:
        if case.expect == "warn" and all(m in o.stderr for m in case.mention) and not leaked \
                and not extra:
            o.verdict = "clean"
        else:
            o.verdict, o.why = "silent", (extra or o.stdout.strip()[-200:])
        return o
    msg = o.stderr
    problems = []
    if o.code != 2:
        problems.append(f"exit code {o.code}")
    if len(msg.encode()) >= MAX_MESSAGE:
        problems.append(f"message of {len(msg.encode())} bytes")
    missing = [m for m in case.mention if m not in msg]
    if missing:
        problems.append(f"does not name {missing}")
    if leaked:
        problems.append(f"leaked {leaked}")
    if extra:
        problems.append(extra)
    if problems:
        o.verdict, o.why = "unclear", "; ".join(problems) + " — " + msg.strip()[:200]
    else:
        o.verdict = "clean"
    return o


def run_case(case: Case, tmp: Path) -> Outcome:
    """Build the case's files in ``tmp``, run it, classify it."""
    args = case.build(tmp)
    return classify(case, run_cli(args, tmp), tmp)
