"""``pvshare tic decode FILE``: decode a raw TIC capture to JSON lines (for debugging a meter)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from ..errors import InputError

app = typer.Typer(help="Linky TIC (télé-information client) tools.", no_args_is_help=True)

CHUNK = 1 << 16


@app.command("decode")
def decode(
    file: str = typer.Argument(..., help="Raw bytes read from a TIC port ('-' for stdin)."),
    mode: str = typer.Option("auto", help="auto | standard | historique"),
) -> None:
    """Print one JSON object per complete frame, then the counts
    {"frames", "groups", "rejected", "incomplete"} (exit code 2 when no frame is found)."""
    from ..meters.tic import Decoder, frame_to_json
    if mode not in ("auto", "standard", "historique"):
        raise InputError(f"unknown mode {mode!r}: use auto, standard or historique",
                         field="--mode")
    if file == "-":
        stream, name = sys.stdin.buffer, "<stdin>"
    else:
        path = Path(file)
        if not path.is_file():
            raise InputError("no such file", source=file)
        stream, name = path.open("rb"), file
    decoder = Decoder(mode)
    write = sys.stdout.write
    with stream:
        while chunk := stream.read(CHUNK):
            for frame in decoder.feed(chunk):
                write(json.dumps(frame_to_json(frame), ensure_ascii=False) + "\n")
    for frame in decoder.finish():
        write(json.dumps(frame_to_json(frame), ensure_ascii=False) + "\n")
    c = decoder.counters
    write(json.dumps(c.as_dict()) + "\n")
    sys.stdout.flush()
    if c.frames == 0:
        raise InputError(f"no complete TIC frame found ({c.rejected} corrupted group(s), "
                         f"{c.incomplete} incomplete frame(s)); is it a raw TIC capture, "
                         "read at the right baud rate (standard 9600, historique 1200)?",
                         source=name)
