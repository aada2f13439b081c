"""The documentation runs as written (issue 20, item 1).

Every console block of README.md and docs/*.md that shows a ``pvshare`` command is run, in
order, in a fresh copy of the repository's files (what a fresh clone holds), and the output
the page shows is compared with what the commands print. The convention, for whoever writes
a page, is in docs/development.md ("Documentation that runs"):

- a fenced block marked ``console`` (or unmarked) with ``$ `` prompt lines is a session: each
  ``$ `` line is a command (a line ending in ``\\`` continues on the next one), the lines
  below it are its output, compared line by line (trailing spaces, and blank lines before and after, ignored). ``…`` (or
  ``...``) stands for any text within a line; a line holding only ``…`` stands for any
  number of lines, none included. A command exits 0, unless its output shows ``error:``;
- a block marked ``sh`` (or unmarked without prompts) is a script: each line is a command,
  only its exit code is checked;
- ``$ cd DIR`` moves the next commands of the page into DIR; a command ending in ``&`` runs
  in the background until the page ends (what it has printed when the next command starts
  is what the page shows below it, awaited, not timed: more may follow),
  or until ``$ kill %N`` stops the page's Nth background command, as a shell's job would;
- a block that cannot run here (a real systemd boot, hardware, sudo to /etc) is preceded by
  ``<!-- doc-test: skip REASON -->``: its commands are counted as skipped, with the reason;
- every page runs in a network of its own (a Linux network namespace, when the machine allows
  one): a page may start a server on its documented fixed port (the inverter simulator on
  5020, a broker on 1883) without meeting another test's, or the computer's;
- a block a French reader reads in French is preceded by ``<!-- doc-test: lang fr_FR.UTF-8 -->``:
  its commands run with that LANG;
- a block of another language (``text``, ``toml``, ``json``…) is never run.

One test per page (pytest-xdist spreads them); the commands of a page share its copy, so a
file built by one command is there for the next. ``python tests/test_docs_run.py`` prints
how many documented commands are run and which are skipped, and why.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

#: Pages whose commands another test runs for now.
#: Pages run by a test of their own (with the `<!-- console: run in DIR -->` convention of
#: tests/console_blocks.py), not here.
EXCLUDED = {"docs/pmo-month.md": "run by tests/test_guide_pmo.py (every command, in a copy of "
                                  "docs/examples/pmo/, output compared)"}

PAGES = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
         if p.relative_to(ROOT).as_posix() not in EXCLUDED]

SESSION_LANGS = {"", "console", "shell-session"}
SCRIPT_LANGS = {"", "sh", "bash", "shell"}
#: ``<!-- console: run in DIR -->`` (tests/console_blocks.py): from there on, the page's
#: blocks are run by a test of their own (e.g. tests/test_guide_households.py).
OWN_TEST_REASON = "run by the page's own test (tests/console_blocks.py convention)"
OWN_TEST = re.compile(r"<!--\s*console:\s*run in\b")
MARKER = re.compile(r"<!--\s*doc-test:\s*(\w+)\s*(.*?)\s*-->", re.S)
#: what may precede the program in a simple command: sudo, VAR=value
PREFIX = re.compile(r"^(?:sudo\s+|[A-Za-z_]\w*=\S*\s+)*")
ELLIPSIS = ("…", "...")
#: how long one command may take; a page's commands are each far below it
COMMAND_TIMEOUT_S = 300


@dataclass
class Command:
    text: str                       # the command, continuation lines joined
    output: list[str] | None        # the output the page shows (None: not compared)
    line: int                       # its line in the page (1-based)


@dataclass
class Block:
    line: int
    commands: list[Command]
    skip: str | None = None         # the reason, for a block marked skip
    lang: str | None = None         # LANG of a block marked ``lang`` (French pages)


@dataclass
class Page:
    path: Path
    blocks: list[Block] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    def counts(self) -> tuple[int, int]:
        """(commands run, commands skipped) of the page; the commands a page's own test runs
        (``<!-- console: run in DIR -->``) are neither."""
        run = sum(len(b.commands) for b in self.blocks if b.skip is None)
        return run, sum(len(b.commands) for b in self.blocks
                        if b.skip is not None and b.skip != OWN_TEST_REASON)


def runs_pvshare(command: str) -> bool:
    """Whether a command line runs pvshare (``pvshare``, ``.venv/bin/pvshare``…) in one of
    its simple commands.
    """
    for part in re.split(r"[;&|()\n]|\$\(", command.replace("\\\n", " ")):
        words = PREFIX.sub("", part.strip()).split()
        if words and (words[0] == "pvshare" or words[0].endswith("/pvshare")):
            return True
    return False


def _join_continued(lines: list[tuple[int, str]]):
    """Lines ending in a backslash joined with the next one: (first line number, text)."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for n, text in lines:
        if pending is not None:
            pending = (pending[0], pending[1] + "\n" + text)
        else:
            pending = (n, text)
        if not text.endswith("\\"):
            out.append(pending)
            pending = None
    if pending is not None:
        out.append(pending)
    return out


def _session(content: str, first: int) -> list[Command]:
    cmds: list[Command] = []
    lines = content.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        start = i
        text = lines[i][2:]
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text += "\n" + lines[i]
        i += 1
        output = []
        while i < len(lines) and not lines[i].startswith("$ "):
            output.append(lines[i])
            i += 1
        while output and not output[-1].strip():
            output.pop()
        cmds.append(Command(text, output, first + start))
    return cmds


def _script(content: str, first: int) -> list[Command]:
    lines = [(first + k, t) for k, t in enumerate(content.splitlines())]
    return [Command(t, None, n) for n, t in _join_continued(lines)
            if t.strip() and not t.lstrip().startswith("#")]


def parse(path: Path) -> Page:
    """The command blocks of a page (those holding at least one pvshare command)."""
    page = Page(path)
    tokens = MarkdownIt("commonmark").parse(path.read_text(encoding="utf-8"))
    marker: tuple[str, str] | None = None
    own_test = False
    for tok in tokens:
        if tok.type == "html_block" and OWN_TEST.search(tok.content):
            own_test = True                   # the rest of the page has a test of its own
            continue
        if tok.type == "html_block":
            m = MARKER.search(tok.content)
            marker = (m.group(1), m.group(2)) if m else None
            continue
        if tok.type not in ("fence", "code_block"):
            if tok.type.endswith("_open") and tok.level == 0 or tok.type == "inline":
                marker = None
            continue
        lang = tok.info.strip().split()[0] if tok.info.strip() else ""
        first = tok.map[0] + (2 if tok.type == "fence" else 1)
        has_prompt = any(ln.startswith("$ ") for ln in tok.content.splitlines())
        if lang in SESSION_LANGS and has_prompt:
            cmds = _session(tok.content, first)
        elif lang in SCRIPT_LANGS:
            cmds = _script(tok.content, first)
        else:
            cmds = []
        if any(runs_pvshare(c.text) for c in cmds):
            skip = lang = None
            if marker is not None:
                kind, reason = marker
                assert kind in ("skip", "lang"), \
                    f"{path.name}:{first}: unknown doc-test marker {kind!r}"
                assert reason, f"{path.name}:{first}: a {kind} marker says {'why' if kind == 'skip' else 'which'}"
                if kind == "skip":
                    skip = reason
                else:
                    lang = reason
            if own_test and skip is None:
                skip = OWN_TEST_REASON
            page.blocks.append(Block(first, cmds, skip, lang))
        marker = None
    return page


def output_pattern(expected: list[str]) -> re.Pattern[str]:
    """The regular expression of a shown output: ``…`` within a line is any text, a line of
    ``…`` alone any lines (none included).
    """
    parts = []
    for line in expected:
        line = line.rstrip()
        if line.strip() in ELLIPSIS:
            parts.append(r"(?:[^\n]*\n)*?")
            continue
        pieces = re.split(r"…|\.\.\.", line)
        parts.append(r"[^\n]*?".join(re.escape(p) for p in pieces) + r"\n")
    return re.compile("".join(parts))


#: No-break spaces (French numbers and units) read as spaces: a page may show either.
SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})


def output_matches(expected: list[str], actual: str) -> bool:
    expected = [ln.translate(SPACES) for ln in expected]
    actual = actual.translate(SPACES)
    text = "\n".join(ln.rstrip() for ln in actual.strip("\n").splitlines())
    text = text + "\n" if text else ""
    return output_pattern(expected).fullmatch(text) is not None


def fresh_copy(dest: Path) -> Path:
    """The repository's tracked files (what a fresh clone holds), with the test's venv
    reachable as ``.venv``.
    """
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                            check=False)
    repo = dest / "pvshare"
    if listed.returncode == 0 and listed.stdout:
        for name in listed.stdout.decode().split("\0"):
            src = ROOT / name
            if name and src.is_file():
                (repo / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, repo / name)
    else:
        shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(
            ".git", ".venv", ".ha-venv", "__pycache__", ".pytest_cache", "*.egg-info"))
    (repo / ".venv").symlink_to(BIN.parent)
    return repo


def environment(home: Path) -> dict[str, str]:
    """A terminal of 80 columns in English, the test's venv first on PATH."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("LC_", "PVSHARE_", "COLUMNS", "LINES"))}
    return {**keep, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "LANG": "C.UTF-8", "LANGUAGE": "", "COLUMNS": "80", "TERM": "dumb",
            "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", "HOME": str(home),
            "TZ": "Europe/Paris"}


def _wait_for(proc: subprocess.Popen, log: Path, expected: list[str], cmd: Command) -> None:
    """Wait until a background command has printed what the page shows below it (what it
    printed so far: more may follow), or ended.
    """
    deadline = time.monotonic() + COMMAND_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        if output_matches([*expected, "…"], text) or proc.poll() is not None:
            return
        time.sleep(0.1)
    raise AssertionError(f"line {cmd.line}: `{cmd.text}` did not print what the page shows "
                         f"in {COMMAND_TIMEOUT_S} s")


class PrivateNetwork:
    """A network namespace with only its loopback, held by a sleeping process; ``prefix``
    runs a command in it (nothing when the machine gives no namespace: then the host's).
    """

    def __init__(self):
        self.holder: subprocess.Popen | None = None
        self.prefix: list[str] = []
        if not (shutil.which("unshare") and shutil.which("nsenter") and shutil.which("ip")):
            return
        holder = subprocess.Popen(
            ["unshare", "--net", "--", "sh", "-c",
             "ip link set lo up && echo up && exec sleep 86400"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            text=True)
        if holder.stdout.readline().strip() != "up":
            holder.wait(10)
            return
        self.holder = holder
        self.prefix = ["nsenter", "-t", str(holder.pid), "-n", "--"]

    def close(self) -> None:
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait(10)


def run_page(page: Page, tmp: Path) -> list[str]:
    """Run every command of a page in a fresh copy; the problems found (empty if none)."""
    net = PrivateNetwork()
    try:
        return _run_page(page, tmp, net.prefix)
    finally:
        net.close()


def _run_page(page: Page, tmp: Path, prefix: list[str]) -> list[str]:
    repo = fresh_copy(tmp)
    home = tmp / "home"
    home.mkdir()
    base_env = environment(home)
    cwd = repo
    background: list[subprocess.Popen] = []
    problems: list[str] = []
    try:
        for block in page.blocks:
            if block.skip is not None:
                continue
            env = {**base_env, "LANG": block.lang} if block.lang else base_env
            for cmd in block.commands:
                where = f"{page.name}:{cmd.line}: `{cmd.text}`"
                m = re.fullmatch(r"cd\s+(\S+)", cmd.text.strip())
                if m:
                    cwd = (cwd / m.group(1)).resolve()
                    if not cwd.is_dir():
                        return [f"{where}: no folder {m.group(1)}"]
                    continue
                m = re.fullmatch(r"kill\s+%(\d+)", cmd.text.strip())
                if m:
                    n = int(m.group(1))
                    if not 1 <= n <= len(background) or background[n - 1].poll() is not None:
                        return [*problems, f"{where}: no background job %{n} running"]
                    _stop(background[n - 1])
                    continue
                script = cmd.text.strip()
                if script.endswith("&") and not script.endswith("&&"):
                    log = tmp / f"background-{cmd.line}.log"
                    with log.open("w") as out:
                        proc = subprocess.Popen([*prefix, "bash", "-c", script[:-1]],
                                                cwd=cwd, env=env,
                                                stdout=out, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL,
                                                start_new_session=True)
                    background.append(proc)
                    _wait_for(proc, log, cmd.output or [], cmd)
                    actual = log.read_text(encoding="utf-8", errors="replace")
                    if cmd.output is not None and not output_matches([*cmd.output, "…"], actual):
                        problems.append(_mismatch(where, cmd.output, actual))
                    continue
                try:
                    res = subprocess.run([*prefix, "bash", "-c", script], cwd=cwd, env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, text=True,
                                         timeout=COMMAND_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    problems.append(f"{where}: no end in {COMMAND_TIMEOUT_S} s")
                    return problems
                shows_error = cmd.output is not None and any(
                    ln.startswith("error:") for ln in cmd.output)
                if (res.returncode != 0) != shows_error:
                    problems.append(f"{where}: exit code {res.returncode}\n{res.stdout}")
                    if not shows_error:
                        return problems      # what follows may need what it should have made
                elif cmd.output is not None and not output_matches(cmd.output, res.stdout):
                    problems.append(_mismatch(where, cmd.output, res.stdout))
    finally:
        for proc in background:
            _stop(proc)
    return problems


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM a background command (its whole process group), SIGKILL after 10 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _mismatch(where: str, expected: list[str], actual: str) -> str:
    return (f"{where}: the page shows\n" + "\n".join(expected)
            + "\n--- but it printed\n" + actual.rstrip())


# --- the tests -------------------------------------------------------------------------------

PARSED = {p.relative_to(ROOT).as_posix(): parse(p) for p in PAGES}
RUNNABLE = [name for name, page in PARSED.items() if page.blocks]


@pytest.mark.parametrize("name", RUNNABLE)
def test_the_page_runs_as_written(name, tmp_path):
    problems = run_page(PARSED[name], tmp_path)
    assert not problems, "\n\n".join(problems)


def test_the_pages_of_the_issue_hold_commands_and_run_them():
    must = {"README.md", "docs/allocation.md", "docs/enedis-curves.md", "docs/reports.md",
            "docs/web.md", "docs/install.md", "docs/configuration.md", "docs/meters.md",
            "docs/store.md", "docs/forecast.md", "docs/troubleshooting.md", "docs/daemon.md"}
    assert must <= set(RUNNABLE)
    assert all(PARSED[n].counts()[0] > 0 for n in must)


def test_every_skip_says_why():
    skipped = [(n, b.line, b.skip) for n, p in PARSED.items() for b in p.blocks if b.skip]
    assert all(reason and len(reason) > 10 for _, _, reason in skipped)
    # most skipped commands are the Pi's sudo lines; more run than are skipped
    run = sum(p.counts()[0] for p in PARSED.values())
    skip = sum(p.counts()[1] for p in PARSED.values())
    assert run > skip, summary()


def test_the_reader_finds_commands_outputs_and_markers(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "text\n\n```console\n$ pvshare allocate --a 1 \\\n    --b 2\nout 1\n…\nlast …\n"
        "$ cd sub\n```\n\n<!-- doc-test: skip needs a real Pi with its serial port -->\n"
        "```sh\n# comment\npvshare tic decode /dev/ttyUSB0\n```\n\n```text\n$ pvshare x\n```\n"
        "\n```sh\nls\n```\n")
    parsed = parse(page)
    assert [(b.line, b.skip) for b in parsed.blocks] == [
        (4, None), (14, "needs a real Pi with its serial port")]
    first = parsed.blocks[0].commands
    assert [c.text for c in first] == ["pvshare allocate --a 1 \\\n    --b 2", "cd sub"]
    assert first[0].output == ["out 1", "…", "last …"]
    assert parsed.counts() == (2, 1)


def test_ellipses_match_what_varies_and_nothing_else():
    shown = ["head", "…", "port: … ok", "tail"]
    assert output_matches(shown, "head\nport: 4321 ok\ntail\n")
    assert output_matches(shown, "head\na\nb\nport: 1 ok  \ntail")
    assert not output_matches(shown, "head\nport: 1 ok\ntail\nmore\n")
    assert not output_matches(shown, "head\nport: 1 OK\ntail\n")
    assert not output_matches(["written: a.pdf"], "written: a.html\nwritten: a.pdf\n")
    assert output_matches([], "")
    assert not output_matches([], "something\n")


def summary() -> str:
    lines = []
    total_run = total_skip = 0
    for name, page in PARSED.items():
        run, skip = page.counts()
        total_run += run
        total_skip += skip
        if run or skip:
            lines.append(f"{name}: {run} run, {skip} skipped")
        for b in page.blocks:
            if b.skip:
                lines.append(f"  skipped at line {b.line} ({len(b.commands)}): {b.skip}")
    for name, why in EXCLUDED.items():
        lines.append(f"{name}: excluded, {why}")
    lines.append(f"commands in the documented pvshare blocks: {total_run} of "
                 f"{total_run + total_skip} run, {total_skip} skipped")
    pv_run = sum(runs_pvshare(c.text) for p in PARSED.values() for b in p.blocks
                 if b.skip is None for c in b.commands)
    pv_all = sum(runs_pvshare(c.text) for p in PARSED.values() for b in p.blocks
                 for c in b.commands)
    lines.append(f"pvshare commands among them: {pv_run} of {pv_all} run")
    return "\n".join(lines)


if __name__ == "__main__":
    # python tests/test_docs_run.py [PAGE...]: the counts, or run the pages named
    import tempfile
    if len(sys.argv) == 1:
        print(summary())
    for arg in sys.argv[1:]:
        with tempfile.TemporaryDirectory() as tmp:
            found = run_page(PARSED[arg], Path(tmp))
            print(f"{arg}: " + ("OK" if not found else "\n\n".join(found)))
