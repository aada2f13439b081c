"""Private links: one random token per participant, stored hashed, revocable.

A link is ``<base-url>/l/<token>``: 32 random URL-safe characters (192 bits, from
:func:`secrets.token_urlsafe`). Only the token's SHA-256 is kept, in a small JSON file owned by
the web application beside the store (``<store>.web-links.json``, mode 0600), never in the
daemon's store and never in a log: whoever reads the file cannot rebuild a link. Issuing a new
link for a participant revokes the previous one. Besides the tenants' links there are two
building links: ``@building`` (the association: shares without names) and ``@pmo`` (the
landlord: with names and meter details).

A link stops working when it is revoked, when its participant is no longer in the config, or
at the end of the participant's period when the config gives one (``to``).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from pvshare.errors import InputError, PvshareError
from pvshare.files.atomic import write_atomic  # 0600: links or their hashes

BUILDING = "@building"
PMO = "@pmo"
SPECIAL = (BUILDING, PMO)
TOKEN_CHARS = 32
FORMAT_VERSION = 1


class LinksError(PvshareError):
    """The links file cannot be read or written (names the file)."""


def links_path(store_path: str | os.PathLike) -> Path:
    """Where the web application keeps its links: beside the store."""
    p = Path(store_path)
    return p.with_name(p.name + ".web-links.json")


def token_hash(token: str) -> str:
    """SHA-256 of a token, hex (tokens are random: no salt or slow hash is needed)."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True)
class Link:
    """One issued link: who it is for (a participant id, ``@building`` or ``@pmo``), the hash
    of its token, when it was issued and revoked (UTC ISO 8601, None = valid).
    """

    participant: str
    sha256: str
    issued: str
    revoked: str | None = None


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class LinkStore:
    """The links file: read at start and again whenever it changes on disk, so a link revoked
    from the command line stops working at once in a running server.

    Parameters
    ----------
    path : path-like
        The JSON file (created on the first :meth:`issue`).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._links: list[Link] = []
        self._by_hash: dict[str, Link] = {}

    # -- reading ---------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._links, self._by_hash = None, [], {}
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            links = [Link(str(x["participant"]), str(x["sha256"]), str(x["issued"]),
                          x.get("revoked")) for x in data["links"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LinksError(f"{self.path}: not a pvshare links file ({exc}); move it away "
                             "and issue the links again") from None
        self._links = links
        self._by_hash = {x.sha256: x for x in links if x.revoked is None}
        self._stamp = stamp

    def links(self) -> list[Link]:
        """Every link ever issued (revoked ones included)."""
        with self._lock:
            self._load()
            return list(self._links)

    def lookup(self, token: str) -> str | None:
        """Who a token is for (participant id, ``@building`` or ``@pmo``), or None when it
        is unknown or revoked. Constant-time comparison of the hashes.
        """
        h = token_hash(token)
        with self._lock:
            self._load()
            link = self._by_hash.get(h)
        if link is None or not hmac.compare_digest(link.sha256, h):
            return None
        return link.participant

    # -- writing ---------------------------------------------------------------------------
    def _save(self, links: list[Link]) -> None:
        data = {"version": FORMAT_VERSION,
                "comment": "pvshare web links: SHA-256 of each token, never the token",
                "links": [x.__dict__ for x in links]}
        write_atomic(self.path, json.dumps(data, indent=1) + "\n")
        self._stamp = None

    def issue(self, participants: list[str]) -> dict[str, str]:
        """New tokens for these participants (previous links of theirs are revoked).

        Returns
        -------
        dict
            participant → token (the only time the token exists in clear).
        """
        with self._lock:
            self._load()
            now = _utc_now()
            tokens = {p: secrets.token_urlsafe(TOKEN_CHARS * 3 // 4) for p in participants}
            links = [Link(x.participant, x.sha256, x.issued, now)
                     if x.participant in tokens and x.revoked is None else x
                     for x in self._links]
            links += [Link(p, token_hash(t), now) for p, t in tokens.items()]
            self._save(links)
            return tokens

    def valid_participants(self) -> set[str]:
        """The participants (and ``@building``, ``@pmo``) that have a valid link."""
        with self._lock:
            self._load()
            return {x.participant for x in self._links if x.revoked is None}

    def revoke(self, participant: str) -> int:
        """Revoke every valid link of a participant; returns how many were revoked."""
        with self._lock:
            self._load()
            now = _utc_now()
            n = sum(1 for x in self._links if x.participant == participant and x.revoked is None)
            if n:
                self._save([Link(x.participant, x.sha256, x.issued, now)
                            if x.participant == participant and x.revoked is None else x
                            for x in self._links])
            return n


def link_url(base_url: str, token: str) -> str:
    """``https://example.org/pvshare`` + token → ``https://example.org/pvshare/l/<token>``."""
    return f"{base_url.rstrip('/')}/l/{token}"


def check_base_url(base_url: str) -> str:
    """The base URL, checked: http(s), a host, no query or fragment."""
    from urllib.parse import urlsplit

    u = urlsplit(base_url.strip())
    if u.scheme not in ("http", "https") or not u.netloc or u.query or u.fragment:
        raise InputError(f"must be an http(s) address such as https://solaire.example.org, "
                         f"got {base_url!r}", field="--base-url")
    return base_url.strip().rstrip("/")


def links_csv(rows: list[tuple[str, str]]) -> str:
    """``participant,url`` lines."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["participant", "url"])
    w.writerows(rows)
    return buf.getvalue()


@dataclass(frozen=True)
class IssuedLinks:
    """What :func:`issue_links` did: ``rows`` (participant, url) issued now, and ``kept``:
    the participants asked for whose valid link was left alone (no ``replace``).
    """

    rows: list[tuple[str, str]]
    kept: list[str]


def issue_links(site, links: LinkStore, base_url: str, participants: list[str] | None,
                out: Path, sheet: Path | None = None, *, replace: bool = False
                ) -> IssuedLinks:
    """Issue links and write ``out`` (CSV ``participant,url``) and the printable sheet.

    A participant who already has a valid link keeps it, and gets no new one, unless
    ``replace``: then the new link cancels the old one (a link is stored hashed, so the old
    one cannot be printed again). Issuing links for some never cancels the others'.

    Parameters
    ----------
    site : pvshare.web.data.Site
    links : LinkStore
    base_url : str
        The address the pages are served at (checked by :func:`check_base_url`).
    participants : list of str, optional
        Participant ids, ``@building`` or ``@pmo``; default every participant whose period
        has not ended, and both building links.
    out : Path
        The CSV file (mode 0600: it holds the links).
    sheet : Path, optional
        The printable HTML sheet, one QR code per flat (default: ``out`` with ``.html``).
    replace : bool
        Cancel the valid links of the participants asked for and issue new ones.

    Raises
    ------
    InputError
        An unknown participant, a bad base URL, or every participant asked for already has
        a valid link (without ``replace``): nothing is issued.
    """
    import time

    base = check_base_url(base_url)
    known = set(site.participant_ids)
    if participants:
        for p in participants:
            if p not in known and p not in SPECIAL:
                raise InputError(f"no participant {p!r} in the config (or use {BUILDING} / "
                                 f"{PMO} for the building's links)", field="--participant")
        wanted = list(dict.fromkeys(participants))
    else:
        now = time.time()
        wanted = [p for p in site.participant_ids
                  if (site.period_end_s(p) is None or site.period_end_s(p) > now)]
        wanted += list(SPECIAL)
    kept = [] if replace else [p for p in wanted if p in links.valid_participants()]
    wanted = [p for p in wanted if p not in kept]
    if not wanted:
        raise InputError(f"{', '.join(kept[:5])}{'…' if len(kept) > 5 else ''}: already "
                         f"a valid link each, nothing issued; --replace cancels these links "
                         f"and issues new ones", field="--participant")
    tokens = links.issue(wanted)
    rows = [(p, link_url(base, tokens[p])) for p in wanted]
    write_atomic(Path(out), links_csv(rows))
    write_atomic(Path(sheet) if sheet else Path(out).with_suffix(".html"),
                  render_sheet(site, rows))
    return IssuedLinks(rows, kept)


def render_sheet(site, rows: list[tuple[str, str]]) -> str:
    """The printable sheet: one card per flat with its QR code (SVG, by segno) and address."""
    import segno

    from pvshare.web.templating import templates

    names = dict(zip(site.participant_ids, site.participant_names))
    labels = {BUILDING: "Page de l'immeuble (association)", PMO: "Page de l'immeuble (bailleur)"}
    cards = []
    for pid, url in rows:
        qr = segno.make(url, error="m")
        cards.append({"pid": pid, "name": labels.get(pid) or names.get(pid, pid), "url": url,
                      "qr": qr.svg_inline(scale=4, border=2, omitsize=True,
                                                title=f"Lien de {pid}")})
    return templates().get_template("sheet.html").render(site=site.name, cards=cards)


def demo_links(cfg, folder: Path, at_s: float, port: int = 8080, *, pvshare: str = "pvshare",
               config_shown: str | None = None, out_shown: str = "links.csv") -> list[str]:
    """The lines ``pvshare demo`` ends with: the command serving the demo's pages as at
    ``at_s`` and one tenant's link (issued now into ``folder/links.csv``), then the command
    issuing every other link (it keeps these two: :func:`issue_links`).
    """
    from pvshare.web.data import site_from_config

    site = site_from_config(cfg)
    at = dt.datetime.fromtimestamp(at_s, dt.UTC).astimezone(
        __import__("zoneinfo").ZoneInfo(site.timezone)).isoformat(timespec="minutes")
    config = config_shown or cfg.source
    base = f"http://127.0.0.1:{port}"
    serve = f"{pvshare} web --config {config} --port {port} --at {at}"
    try:
        rows = issue_links(site, LinkStore(links_path(cfg.relative(cfg.store.path))),
                           base, [site.participant_ids[0], PMO],
                           folder / "links.csv", replace=True).rows
    except ImportError:                     # the `web` extra is not installed
        return ["the tenants' pages need the web extra: pip install 'pvshare[web]'"]
    return [f"the tenants' pages: {serve}",
            f"  then open {site.participant_ids[0]}'s page: {rows[0][1]}",
            f"  the landlord's: {rows[1][1]}",
            f"  every other tenant's link (these two are kept): {pvshare} web links --config "
            f"{config} --base-url {base} --out {out_shown}"]
