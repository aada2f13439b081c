"""Validation helpers shared by the configuration and the meter types: pydantic errors as
one plain line per problem, naming the field (``participants[12].prm: ...``).
"""

from __future__ import annotations

from pydantic import ValidationError

#: Fields whose value is never repeated in an error message.
SECRET_FIELDS = frozenset({"password", "token", "secret", "api_key", "apikey", "key_file"})


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def validation_messages(err: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem of a pydantic error, naming the field as a person reads the file.

    Parameters
    ----------
    err : pydantic.ValidationError
        The error raised by ``model_validate``.
    prefix : str
        Prepended to each field path (``meters[2]``).

    Returns
    -------
    list of str
        ``participants[12].prm: must be 14 digits, got '1234'``-style lines.
    """
    problems = []
    for e in err.errors(include_url=False):
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        where = _loc(loc)
        if prefix:
            where = prefix + ("." + where if where and not where.startswith("[") else where)
        msg = e["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif "input" in e and e["type"] not in ("value_error", "assertion_error") \
                and not isinstance(e["input"], (dict, list)) \
                and not any(str(part).lower() in SECRET_FIELDS for part in loc):
            msg += f", got {e['input']!r}"
        for line in msg.split("\n"):
            if line.startswith(("participants", "producer", "key.", "meters")):
                problems.append(line)
            else:
                problems.append(f"{where}: {line}" if where else line)
    return problems
