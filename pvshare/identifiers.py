r"""Identifiers as they enter pvshare: PRMs and participant ids, one canonical form each.

Every place that reads one (the configuration, the CSV files' headers and ``participant``
columns, ``--prm-map``, ``--participants``, ``--prm``, Enedis files) goes through these
functions, so that two spellings of one identifier can never become two participants, or
hide a duplicate (issue 21):

* a **PRM** is exactly 14 ASCII digits ``0``–``9``: no surrounding or embedded space or line
  break, no fullwidth (``０``) or Arabic-Indic (``٠``) digits, which Python's ``\d`` and
  ``int()`` accept but Enedis does not;
* a **participant id** is NFC-normalised Unicode (``élodie`` typed as ``e`` + a combining
  accent is the same person as ``élodie``), visible (no control, format, zero-width or
  special space character, not empty) and unique after normalisation.

Pure functions: they raise :class:`ValueError` with a message for a person; the callers add
the file, line and field.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from pvshare.i18n import _

#: Digits of a PRM (point de référence mesure, Enedis' meter number).
PRM_DIGITS = 14

#: Unicode categories never allowed in an identifier: control (Cc), format (Cf, e.g. the
#: zero-width space U+200B and joiners), surrogates (Cs), private use (Co), unassigned (Cn),
#: line and paragraph separators (Zl, Zp).
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _show(text: str, n: int = 30) -> str:
    if len(text) <= n:
        return repr(text)
    return repr(text[:n]) + _("… ({n} characters)").format(n=f"{len(text):,}")


def _char_name(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, '')}".rstrip()


def is_prm(text: object) -> bool:
    """True when ``text`` is a PRM exactly: 14 ASCII digits, nothing else."""
    return isinstance(text, str) and len(text) == PRM_DIGITS and text.isascii() \
        and text.isdigit()


def prm_problem(text: str) -> str | None:
    """Why ``text`` is not a PRM (``must be 14 digits, got …[: why]``), or None if it is one."""
    if is_prm(text):
        return None
    why = ""
    if any(ch in "\r\n\v\f\x85\u2028\u2029" for ch in text):
        why = _("it holds a line break")
    elif text != text.strip():
        why = _("it has spaces around its digits")
    elif any(ch.isdigit() and not ch.isascii() for ch in text):
        odd = next(ch for ch in text if ch.isdigit() and not ch.isascii())
        why = _("it is written with other digits than 0-9 ({char}); type the digits "
                "0-9").format(char=_char_name(odd))
    elif any(unicodedata.category(ch) in _INVISIBLE or unicodedata.category(ch) == "Zs"
             for ch in text):
        odd = next(ch for ch in text if unicodedata.category(ch) in _INVISIBLE
                   or unicodedata.category(ch) == "Zs")
        why = _("it holds an invisible character ({char})").format(char=_char_name(odd))
    message = _("must be {n} digits, got {value}").format(n=PRM_DIGITS, value=_show(text))
    return _("{where}: {message}").format(where=message, message=why) if why else message


def check_prm(text: str) -> str:
    """``text`` if it is a PRM; else :class:`ValueError` saying why."""
    problem = prm_problem(text)
    if problem:
        raise ValueError(problem)
    return text


def participant_id(text: str, what: str | None = None) -> str:
    """The canonical form (NFC) of a participant id; :class:`ValueError` if it is empty or
    holds an invisible character (control, format such as a zero-width space, a line break
    or a space other than the plain one).
    """
    what = _("participant id") if what is None else what
    nfc = unicodedata.normalize("NFC", text)
    for ch in nfc:
        cat = unicodedata.category(ch)
        if cat in _INVISIBLE or (cat == "Zs" and ch != " "):
            raise ValueError(_("{what} {value} holds an invisible or special character "
                               "({char}): retype it with visible characters").format(
                                   what=what, value=_show(nfc), char=_char_name(ch)))
    if not nfc.strip():
        raise ValueError(_("{what} is empty").format(what=what))
    return nfc


def first_duplicate(ids: Iterable[str]) -> tuple[int, int] | None:
    """``(i, j)``, ``i < j``: the first id listed twice (ids already canonical), in one pass
    (a dict: linear in the number of ids), or None.
    """
    seen: dict[str, int] = {}
    for j, x in enumerate(ids):
        i = seen.setdefault(x, j)
        if i != j:
            return i, j
    return None


def duplicates(ids: Iterable[str]) -> list[tuple[int, int]]:
    """Every ``(i, j)``: id ``j`` is the same as the earlier id ``i`` (its first listing);
    linear in the number of ids.
    """
    seen: dict[str, int] = {}
    out = []
    for j, x in enumerate(ids):
        i = seen.setdefault(x, j)
        if i != j:
            out.append((i, j))
    return out
