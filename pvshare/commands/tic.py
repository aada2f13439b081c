"""``pvshare tic decode FILE``: decode a raw TIC capture to JSON lines (for debugging a meter)."""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path

import typer

from pvshare.errors import InputError

app = typer.Typer(help="Linky TIC (télé-information client) tools.", no_args_is_help=True)

CHUNK = 1 << 16


@app.command("decode")
def decode(
    file: str = typer.Argument(..., help="Raw bytes read from a TIC port: a capture file, "
                               "a serial device already set up (stty), or '-' for stdin."),
    mode: str = typer.Option("auto", help="auto | standard | historique"),
) -> None:
    """Print one JSON object per complete frame, then the counts
    {"frames", "groups", "rejected", "incomplete"} (exit code 2 when no frame is found).
    """
    from pvshare.meters.tic import Decoder, frame_to_json
    if mode not in ("auto", "standard", "historique"):
        raise InputError(f"unknown mode {mode!r}: use auto, standard or historique",
                         field="--mode")
    if file == "-":
        stream, name = sys.stdin.buffer, "<stdin>"
    else:
        path = Path(file)
        if not path.exists():
            raise InputError("no such file", source=file)
        if path.is_dir():
            raise InputError("is a folder, not a TIC capture", source=file)
        try:
            stream, name = path.open("rb"), file
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", source=file) from None
    decoder = Decoder(mode)
    out = sys.stdout

    def emit(frames):
        for frame in frames:
            out.write(json.dumps(frame_to_json(frame), ensure_ascii=False) + "\n")
        if frames:
            out.flush()  # frames show as they come when reading a live port

    try:
        with stream:
            while True:
                try:
                    chunk = stream.read1(CHUNK)
                except OSError as exc:
                    if exc.errno == errno.EIO:  # the other end of a (pseudo-)terminal closed
                        break
                    raise InputError(f"read error: {exc.strerror}", source=name) from None
                if not chunk:
                    break
                emit(decoder.feed(chunk))
    except KeyboardInterrupt:  # Ctrl-C on a live port: still print the counts
        pass
    except BrokenPipeError:  # piped into `head`: it has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    emit(decoder.finish())
    c = decoder.counters
    out.write(json.dumps(c.as_dict()) + "\n")
    out.flush()
    if c.frames == 0:
        raise InputError(f"no complete TIC frame found ({c.rejected} corrupted group(s), "
                         f"{c.incomplete} incomplete frame(s)); is it a raw TIC capture, "
                         "read at the right baud rate (standard 9600, historique 1200)?",
                         source=name)
