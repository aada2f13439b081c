"""Validation helpers shared by the configuration and the meter types: pydantic errors as
one plain line per problem, naming the field (``participants[12].prm: ...``), in the
user's language (the messages come from the catalogue, :mod:`pvshare.i18n`).
"""

from __future__ import annotations

from pydantic import ValidationError

from pvshare.i18n import _

#: Fields whose value is never repeated in an error message.
SECRET_FIELDS = frozenset({"password", "token", "secret", "api_key", "apikey", "key_file"})

#: Pydantic error types that say a value is not a number / a whole number / a boolean /
#: text / a table / a list / a date / a time / a URL (each a message of its own below).
_NUMBER = {"float_parsing", "float_type", "decimal_type", "decimal_parsing"}
_INTEGER = {"int_parsing", "int_type", "int_parsing_size"}
_BOOLEAN = {"bool_parsing", "bool_type"}
_STRING = {"string_type", "string_unicode"}
_TABLE = {"dict_type", "model_type", "model_attributes_type", "mapping_type",
          "dataclass_type", "dataclass_exact_type"}
_LIST = {"list_type", "tuple_type", "set_type", "frozen_set_type", "iterable_type",
         "named_tuple_type"}
_DATE = {"date_type", "date_parsing", "date_from_datetime_parsing",
         "date_from_datetime_inexact"}
_DATETIME = {"datetime_type", "datetime_parsing", "datetime_from_date_parsing",
             "datetime_object_invalid"}
_TIME = {"time_type", "time_parsing"}
_URL = {"url_type", "url_parsing", "url_syntax_violation"}


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _choices(expected: str) -> str:
    """Pydantic's ``'a', 'b' or 'c'`` with the last "or" in the user's language."""
    head, sep, last = str(expected).rpartition(" or ")
    return _("{first} or {last}").format(first=head, last=last) if sep else str(expected)


def _limit(value: object) -> str:
    """A bound as written in the file: ``0``, not ``0.0``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _message(e: dict) -> str | None:
    """The message of one pydantic error in the user's language, without the value; None
    for a type without a message of its own (pydantic's English is kept then).
    """
    kind = e["type"]
    ctx = e.get("ctx") or {}
    if kind == "extra_forbidden":
        return _("unknown field (check its spelling)")
    if kind == "missing":
        return _("required field is missing")
    if kind in _NUMBER:
        return _("must be a number")
    if kind == "finite_number":
        return _("must be a finite number")
    if kind in _INTEGER:
        return _("must be a whole number")
    if kind == "int_from_float":
        return _("must be a whole number, without decimals")
    if kind in _BOOLEAN:
        return _("must be true or false")
    if kind in _STRING:
        return _("must be text in quotes")
    if kind == "greater_than" and "gt" in ctx:
        return _("must be greater than {limit}").format(limit=_limit(ctx["gt"]))
    if kind == "greater_than_equal" and "ge" in ctx:
        return _("must be at least {limit}").format(limit=_limit(ctx["ge"]))
    if kind == "less_than" and "lt" in ctx:
        return _("must be less than {limit}").format(limit=_limit(ctx["lt"]))
    if kind == "less_than_equal" and "le" in ctx:
        return _("must be at most {limit}").format(limit=_limit(ctx["le"]))
    if kind == "multiple_of" and "multiple_of" in ctx:
        return _("must be a multiple of {n}").format(n=_limit(ctx["multiple_of"]))
    if kind in ("literal_error", "enum") and "expected" in ctx:
        return _("must be {choices}").format(choices=_choices(ctx["expected"]))
    if kind == "too_short" and "min_length" in ctx:
        return _("must have at least {n} item(s), has {actual}").format(
            n=ctx["min_length"], actual=ctx.get("actual_length", "?"))
    if kind == "too_long" and "max_length" in ctx:
        return _("must have at most {n} item(s)").format(n=ctx["max_length"])
    if kind == "string_too_short" and "min_length" in ctx:
        if ctx["min_length"] == 1:
            return _("must not be empty")
        return _("must have at least {n} character(s)").format(n=ctx["min_length"])
    if kind == "string_too_long" and "max_length" in ctx:
        return _("must have at most {n} character(s)").format(n=ctx["max_length"])
    if kind == "string_pattern_mismatch" and "pattern" in ctx:
        return _("must match the pattern {pattern}").format(pattern=repr(ctx["pattern"]))
    if kind in _TABLE:
        return _("must be a table ([section] or {{ key = value }})")
    if kind in _LIST:
        return _("must be a list in brackets [ ]")
    if kind in _DATE:
        return _("must be a date like 2025-09-01")
    if kind in _DATETIME:
        return _("must be a date and time like 2025-09-01T08:00:00+02:00")
    if kind in _TIME:
        return _("must be a time like 08:30")
    if kind == "timezone_aware":
        return _("must have a UTC offset (e.g. +02:00)")
    if kind == "timezone_naive":
        return _("must not have a UTC offset")
    if kind in _URL:
        return _("must be a URL like https://example.org")
    if kind == "url_scheme" and "expected_schemes" in ctx:
        return _("must be a URL starting with {schemes}").format(
            schemes=_choices(ctx["expected_schemes"]))
    if kind == "url_too_long" and "max_length" in ctx:
        return _("must have at most {n} character(s)").format(n=ctx["max_length"])
    if kind == "none_required":
        return _("must be left out")
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])               # our own validators' text, already translated
    return None


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
        ``participants[12].prm: must be 14 digits, got '1234'``-style lines, in the user's
        language (French under a French locale). A secret's value is never repeated.
    """
    problems = []
    for e in err.errors(include_url=False):
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        where = _loc(loc)
        if prefix:
            where = prefix + ("." + where if where and not where.startswith("[") else where)
        msg = _message(e)
        if msg is None:
            msg = e["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
        if "input" in e and e["type"] not in ("value_error", "assertion_error",
                                              "extra_forbidden", "missing") \
                and not isinstance(e["input"], (dict, list)) \
                and not any(str(part).lower() in SECRET_FIELDS for part in loc):
            msg = _("{message}, got {value}").format(message=msg, value=repr(e["input"]))
        for line in msg.split("\n"):
            if line.startswith(("participants", "producer", "key.", "meters")):
                problems.append(line)
            else:
                problems.append(_("{where}: {message}").format(where=where, message=line)
                                if where else line)
    return problems
