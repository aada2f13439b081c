"""The pages' templates (Jinja2, autoescaped) and their one stylesheet, inlined in every page
and allowed by its hash in the Content-Security-Policy.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def templates():
    """The Jinja2 environment of the pages (autoescaped)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.globals["css"] = css()
    return env


@lru_cache(maxsize=1)
def css() -> str:
    """The one stylesheet, inlined in every page (its hash is in the CSP)."""
    return (TEMPLATES / "style.css").read_text(encoding="utf-8").strip()


def csp() -> str:
    """Content-Security-Policy: nothing but the inline stylesheet (by hash) and data: images."""
    digest = base64.b64encode(hashlib.sha256(css().encode("utf-8")).digest()).decode()
    return ("default-src 'none'; style-src 'sha256-" + digest + "'; img-src 'self' data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
