"""Run the console blocks of a Markdown page and compare what they print.

A **console block** is a fenced block whose info string is ``console``. In it, a line
starting with ``$ `` is a command (continued on the next line while it ends with ``\\``);
the lines after it, up to the next command or the end of the block, are what it prints
(stdout and stderr together). In the printed lines:

* a line holding only ``…`` stands for any number of lines (none included);
* ``…`` inside a line stands for any text on that line;
* trailing spaces are ignored (rich pads its tables).

The page says where its commands run with a comment line anywhere in it:
``<!-- console: run in docs/examples/pmo, LANG=fr_FR.UTF-8 -->`` (a folder of the
repository, then optional ``NAME=value`` settings of the environment). Commands run one
after the other in one copy of that folder, with ``pvshare`` found on ``PATH`` (the
project's venv), and must exit with code 0.

With ``PVSHARE_UPDATE_DOCS=1`` in the environment, a block's printed lines that differ and
hold no ``…`` are rewritten in the page from what the command printed, and the shipped
files a command rewrote are copied back (to regenerate the documentation after a change of
output; review the diff).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ELLIPSIS = "…"
FENCE = re.compile(r"^```console[^\n]*\n(.*?)^```", re.M | re.S)
MARKER = re.compile(r"^<!-- console: run in (\S+?)(?:,\s*(.*?))?\s*-->$", re.M)


@dataclass
class Command:
    """One ``$`` command of a page and the printed lines shown after it."""

    text: str                       # the command, continuation lines joined
    expected: list[str]
    line: int                       # 1-based line of the ``$`` in the page
    span: tuple[int, int] = (0, 0)  # the page's lines (0-based, end excluded) of the output


@dataclass
class Page:
    path: Path
    folder: Path | None
    env: dict[str, str] = field(default_factory=dict)
    commands: list[Command] = field(default_factory=list)


def parse(path: Path) -> Page:
    """The console blocks of a page, in order."""
    text = path.read_text(encoding="utf-8")
    m = MARKER.search(text)
    folder = ROOT / m.group(1) if m else None
    env = dict(kv.split("=", 1) for kv in (m.group(2) or "").replace(",", " ").split()) \
        if m else {}
    page = Page(path, folder, env)
    lines = text.split("\n")
    for block in FENCE.finditer(text):
        first = text.count("\n", 0, block.start(1))          # 0-based line of the body
        body = block.group(1).split("\n")[:-1]
        i = 0
        while i < len(body):
            if not body[i].startswith("$ "):
                i += 1
                continue
            start = i
            parts = [body[i][2:]]
            while parts[-1].endswith("\\") and i + 1 < len(body):
                i += 1
                parts.append(body[i])
            i += 1
            out_from = i
            while i < len(body) and not body[i].startswith("$ "):
                i += 1
            cmd = " ".join(p.rstrip("\\").strip() for p in parts)
            page.commands.append(Command(cmd, body[out_from:i], first + start + 1,
                                         (first + out_from, first + i)))
    assert lines  # the page is read once; spans refer to its lines
    return page


def _pattern(expected: list[str]) -> re.Pattern:
    parts = []
    for line in expected:
        line = line.rstrip()
        if line == ELLIPSIS:
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(p) for p in line.split(ELLIPSIS)) + r"\n")
    return re.compile("".join(parts) + r"\Z", re.S)


def normalise(output: str) -> str:
    lines = [line.rstrip() for line in output.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "".join(line + "\n" for line in lines)


def matches(expected: list[str], output: str) -> bool:
    exp = list(expected)
    while exp and not exp[-1].strip():
        exp.pop()
    return bool(_pattern(exp).match(normalise(output)))


def environment(page: Page) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG", "COLUMNS")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(page.env)
    return env


def copy_folder(page: Page, tmp: Path) -> Path:
    """Copy the page's folder to the same place under ``tmp`` (paths relative to the
    repository stay valid: the repository's ``config/`` is copied beside it).
    """
    assert page.folder is not None
    rel = page.folder.relative_to(ROOT)
    work = tmp / rel
    shutil.copytree(page.folder, work)
    if (ROOT / "config").is_dir() and not (tmp / "config").exists():
        shutil.copytree(ROOT / "config", tmp / "config")
    return work


def run(command: Command, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command.text], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)


def run_page(page: Page, tmp: Path) -> tuple[Path, list[str], dict[int, str]]:
    """Run every command of ``page`` in order, in a copy of its folder under ``tmp``.

    Returns the copy, what went wrong (a command's exit code, or its output against the
    page's), and the output of each command that printed something else (by ``$`` line).
    """
    work = copy_folder(page, tmp)
    env = environment(page)
    problems, outputs = [], {}
    for c in page.commands:
        r = run(c, work, env)
        if r.returncode != 0:
            problems.append(f"line {c.line}: `{c.text}` exited {r.returncode}:\n{r.stdout}")
            continue
        if not matches(c.expected, r.stdout):
            outputs[c.line] = r.stdout
            problems.append(f"line {c.line}: `{c.text}` printed:\n{normalise(r.stdout)}"
                            f"the page shows:\n" + "\n".join(c.expected))
    return work, problems, outputs


def changed_files(page: Page, work: Path) -> list[str]:
    """Shipped files of the page's folder that the commands wrote differently."""
    assert page.folder is not None
    out = []
    for f in sorted(page.folder.rglob("*")):
        if f.is_file():
            g = work / f.relative_to(page.folder)
            if g.read_bytes() != f.read_bytes():
                out.append(str(f.relative_to(page.folder)))
    return out


def update_page(page: Page, outputs: dict[int, str]) -> None:
    """Rewrite the printed lines of the commands in ``outputs`` (by ``$`` line)."""
    lines = page.path.read_text(encoding="utf-8").split("\n")
    for c in sorted(page.commands, key=lambda c: -c.line):
        if c.line in outputs and not any(ELLIPSIS in e for e in c.expected):
            new = normalise(outputs[c.line]).split("\n")[:-1]
            lines[c.span[0]:c.span[1]] = new
    page.path.write_text("\n".join(lines), encoding="utf-8")


def updating() -> bool:
    return os.environ.get("PVSHARE_UPDATE_DOCS") == "1"
