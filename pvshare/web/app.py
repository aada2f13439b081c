"""The Starlette application: the pages behind the private links, and nothing else.

Routes: ``/l/<token>`` (the page of whoever the token is for; ``?format=json`` for the same
figures as JSON), ``/robots.txt`` and ``/healthz``. Everything else, a wrong token and a
revoked one get the very same 404. A client address with too many failed links in a window
gets 429 for its wrong links for a while; a valid link is always answered (the limiter
is consulted only once a token is found wrong, so a proxy that hides its clients' addresses
never locks a tenant out). Failures are logged rate-limited (one line per 5 minutes, with the
count left out).

Every answer carries strict security headers (a Content-Security-Policy that allows only the
page's own inline stylesheet, by hash; no referrer, so a link never leaks to another site; no
caching of private pages). Only GET and HEAD are served, without a request body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path

from pvshare.logs import RateLimitedLog
from pvshare.web.data import Site, Snapshot, StoreReader, WebStoreError
from pvshare.web.links import PMO, SPECIAL, LinksError, LinkStore
from pvshare.web.templating import csp, templates

log = logging.getLogger("pvshare.web")

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: A snapshot older than this is rebuilt (in the background: pages never wait for it), s.
SNAPSHOT_TTL_S = 20.0
#: Failed links allowed per client address within :data:`FAIL_WINDOW_S`, then 429.
MAX_FAILURES = 20
FAIL_WINDOW_S = 600.0
#: Client addresses tracked by the rate limiter at most (oldest forgotten first).
MAX_TRACKED_CLIENTS = 4096
MAX_URL_BYTES = 2048
MAX_HEADER_BYTES = 8192


class FailureLimiter:
    """Counts failed links per client address in a sliding window (bounded memory)."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = FAIL_WINDOW_S,
                 max_clients: int = MAX_TRACKED_CLIENTS):
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_clients = max_clients
        self._fails: OrderedDict[str, deque] = OrderedDict()
        self._lock = threading.Lock()

    def blocked(self, client: str, now: float) -> float:
        """Seconds until ``client`` may try again (0 = not blocked)."""
        with self._lock:
            q = self._fails.get(client)
            if not q:
                return 0.0
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) < self.max_failures:
                return 0.0
            return max(1.0, q[0] + self.window_s - now)

    def fail(self, client: str, now: float) -> None:
        """Record one failed link from ``client``."""
        with self._lock:
            q = self._fails.pop(client, None) or deque(maxlen=self.max_failures)
            q.append(now)
            self._fails[client] = q
            while len(self._fails) > self.max_clients:
                self._fails.popitem(last=False)


class WebState:
    """What the application holds: the site, the links, the store reader and the current
    snapshot (rebuilt in a background thread when older than ``ttl_s``).
    """

    def __init__(self, site: Site, store_path: Path, links: LinkStore,
                 clock: Callable[[], float] = time.time, ttl_s: float = SNAPSHOT_TTL_S):
        self.site = site
        self.reader = StoreReader(store_path, site)
        self.links = links
        self.clock = clock
        self.ttl_s = ttl_s
        self.limiter = FailureLimiter()
        self._snap: Snapshot | None = None
        self._snap_mono = 0.0
        self._refreshing = threading.Lock()

    def _rebuild(self) -> None:
        try:
            snap = self.reader.snapshot(self.clock())
            self._snap, self._snap_mono = snap, time.monotonic()
        except WebStoreError as exc:
            log.error("%s", exc)
        finally:
            self._refreshing.release()

    async def snapshot(self) -> Snapshot | None:
        """The current snapshot; the first one is awaited, later ones refresh behind."""
        if self._snap is not None and time.monotonic() - self._snap_mono < self.ttl_s:
            return self._snap
        if self._refreshing.acquire(blocking=False):
            if self._snap is None:
                await asyncio.to_thread(self._rebuild)
            else:
                threading.Thread(target=self._rebuild, name="pvshare-web-snapshot",
                                 daemon=True).start()
        elif self._snap is None:
            while self._snap is None and self._refreshing.locked():
                await asyncio.sleep(0.01)
        return self._snap

    def who(self, token: str) -> str | None:
        """Whom a valid token is for, after revocation and the end of periods."""
        if not TOKEN_RE.match(token):
            return None
        try:
            who = self.links.lookup(token)
        except LinksError as exc:                # a damaged links file: no page, say why
            log.error("%s", exc)
            return None
        if who is None or who in SPECIAL:
            return who
        if who not in self.site.participant_ids:
            return None                       # no longer in the config
        end = self.site.period_end_s(who)
        if end is not None and self.clock() >= end:
            return None                       # the participant's period is over
        return who


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    (b"cache-control", b"no-store"),
    (b"x-robots-tag", b"noindex, nofollow"),
]


class Guard:
    """ASGI middleware: only GET/HEAD without a body, bounded URL and headers, security
    headers on every answer (errors included).
    """

    def __init__(self, app):
        self.app = app
        self.headers = SECURITY_HEADERS + [(b"content-security-policy", csp().encode())]

    async def __call__(self, scope, receive, send):
        """Check the request, then answer it with the headers added."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message = {**message, "headers": list(message.get("headers", []))
                           + [(k, v) for k, v in self.headers if k not in names]}
            await send(message)

        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"0").strip() or b"0"
        status = None
        if scope["method"] not in ("GET", "HEAD"):
            status = 405
        elif not length.isdigit():
            status = 400
        elif sum(len(k) + len(v) for k, v in scope.get("headers") or []) > MAX_HEADER_BYTES:
            status = 431
        elif int(length) > 0 or b"transfer-encoding" in headers:
            status = 413
        elif len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") \
                > MAX_URL_BYTES:
            status = 414
        if status is not None:
            from starlette.responses import PlainTextResponse
            extra = {"allow": "GET, HEAD"} if status == 405 else None
            resp = PlainTextResponse(f"{status}\n", status_code=status, headers=extra)
            return await resp(scope, receive, send_with_headers)
        return await self.app(scope, receive, send_with_headers)


def create_app(site: Site, store_path: Path, links: LinkStore, *,
               clock: Callable[[], float] = time.time, ttl_s: float = SNAPSHOT_TTL_S):
    """The ASGI application.

    Parameters
    ----------
    site : Site
    store_path : Path
        The daemon's store, opened read-only.
    links : LinkStore
    clock : callable
        Current time, UTC Unix seconds (a fixed one shows the pages as at that instant).
    ttl_s : float
        Age after which the figures are read again from the store, s.
    """
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, PlainTextResponse, Response
    from starlette.routing import Route

    from pvshare.web import views

    state = WebState(site, store_path, links, clock, ttl_s)
    failures = RateLimitedLog(log, 300.0, level=logging.INFO)
    env = templates()
    not_found_html = env.get_template("notfound.html").render()

    def not_found() -> Response:
        return HTMLResponse(not_found_html, status_code=404)

    async def page(request):
        client = request.client.host if request.client else "?"
        now = time.monotonic()
        who = state.who(request.path_params["token"])
        if who is None:
            # a wrong link: limited per client; a valid one above never reaches this
            wait = state.limiter.blocked(client, now)
            if wait:
                failures.warning("blocked", "too many wrong links from %s: answered 429",
                                 client)
                return PlainTextResponse("Trop d'essais : réessayez plus tard.\n",
                                         status_code=429,
                                         headers={"retry-after": str(int(wait) + 1)})
            state.limiter.fail(client, now)
            failures.warning("unknown", "unknown or revoked link from %s", client)
            return not_found()
        snap = await state.snapshot()
        if snap is None:
            return HTMLResponse(env.get_template("unavailable.html").render(), status_code=503,
                                headers={"retry-after": "60"})
        as_json = request.query_params.get("format") == "json"
        if who in SPECIAL:
            names = who == PMO
            if as_json:
                return _json(views.building_figures(snap, site, names=names))
            return HTMLResponse(env.get_template("building.html").render(
                **views.building_context(snap, site, names=names)))
        if as_json:
            return _json(views.tenant_figures(snap, site, who))
        return HTMLResponse(env.get_template("tenant.html").render(
            **views.tenant_context(snap, site, who)))

    async def robots(request):
        return PlainTextResponse("User-agent: *\nDisallow: /\n")

    async def healthz(request):
        return PlainTextResponse("ok\n")

    async def missing(request, exc):
        return not_found()

    async def method(request, exc):
        return PlainTextResponse("405\n", status_code=405, headers={"allow": "GET, HEAD"})

    app = Starlette(routes=[Route("/l/{token}", page, methods=["GET", "HEAD"]),
                            Route("/robots.txt", robots, methods=["GET", "HEAD"]),
                            Route("/healthz", healthz, methods=["GET", "HEAD"])],
                    exception_handlers={404: missing, 405: method})
    app.router.redirect_slashes = False          # one answer per path: no redirects
    app.state.web = state
    return Guard(app)


def _json(data: dict):
    from starlette.responses import Response

    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")),
                    media_type="application/json")
