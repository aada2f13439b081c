"""Messages in the user's language: French when the locale is French, English otherwise.

One catalogue, read with the standard library's :mod:`gettext`: the English text in the code
is the message id; ``pvshare/locale/fr/LC_MESSAGES/pvshare.po`` has the French, compiled into
``pvshare.mo`` beside it (``make i18n``; a test checks the two agree). The language follows
``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES`` and ``LANG``, like any program on Linux.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "pvshare"


def language() -> str:
    """The language of the messages: ``"fr"`` or ``"en"``, from the environment."""
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "fr" if value.split(":")[0].lower().startswith("fr") else "en"
    return "en"


def translation() -> gettext.NullTranslations:
    """The catalogue for :func:`language` (English: the ids themselves)."""
    lang = language()
    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[lang], fallback=True)


def _(message: str) -> str:
    """``message`` in the user's language (read each call: tests change the locale)."""
    return translation().gettext(message)
