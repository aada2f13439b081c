"""The tenants' page under attack, against the real server (``pvshare web``, a subprocess)
and real sockets: idle and slow-header clients do not starve others, X-Forwarded-For is
believed only from ``[web] trusted_proxies`` (tested through a real Caddy), wrong
links are limited without ever refusing a valid one, failures are logged rate-limited."""

from __future__ import annotations

import http.client
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.test_web_support import ROOT, WebServer, build_site, free_port, issue

TENANT = "A03"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web-attack")
    cfg = build_site(folder)
    links = issue(cfg, folder / "links.csv")
    return SimpleNamespace(folder=folder, config=cfg, links=links)


def with_web(base, name: str, text: str) -> Path:
    """A copy of the site's config with a ``[web]`` section, beside the same store."""
    p = base.config.parent / f"{name}.toml"
    p.write_text(base.config.read_text(encoding="utf-8") + "\n[web]\n" + text,
                 encoding="utf-8")
    return p


def get(port: int, path: str, headers: dict | None = None, source: str | None = None
        ) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def test_idle_and_slow_sockets_do_not_starve_a_valid_page(base):
    """200 idle sockets and 20 that send a request head one byte at a time are held open
    while a tenant asks for its page: it is answered (and /healthz too), not 503."""
    srv = WebServer(base.config)
    idle, slow = [], []
    stop = threading.Event()
    try:
        assert get(srv.port, base.links[TENANT])[0] == 200   # figures read once (cold store)
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", srv.port))
            idle.append(s)
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"GET /l/")
            slow.append(s)

        def dribble():
            while not stop.is_set():
                for s in slow:
                    try:
                        s.sendall(b"x")
                    except OSError:
                        pass
                stop.wait(0.5)

        t = threading.Thread(target=dribble, daemon=True)
        t.start()
        started = time.monotonic()
        status, _, body = get(srv.port, base.links[TENANT])
        elapsed = time.monotonic() - started
        assert status == 200, body[:300]
        assert b"A03" in body or b"<html" in body
        assert get(srv.port, "/healthz")[0] == 200
        # for the record (no timed assertion): the answer time with the sockets held
        (base.folder / "answer_time_with_idle_sockets.txt").write_text(f"{elapsed:.3f}\n")
        print(f"\nvalid tenant page with 200 idle + 20 slow sockets held: {elapsed:.3f} s")
    finally:
        stop.set()
        for s in idle + slow:
            s.close()
        srv.stop()


def test_a_slow_header_client_is_closed(base):
    """A client that sends its request head one byte at a time is closed once
    header_timeout_s has passed, however regularly it sends."""
    cfg = with_web(base, "slow", "header_timeout_s = 1.0\n")
    srv = WebServer(cfg)
    try:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.settimeout(0.3)
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        closed = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not closed:
            try:
                s.sendall(b"X")
                closed = s.recv(1024) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
        s.close()
        assert closed, "the server kept a slow-header client open"
        assert get(srv.port, "/healthz")[0] == 200
    finally:
        srv.stop()
    assert "sent no whole request" in srv.output()


def test_forwarded_for_is_ignored_without_a_trusted_proxy(base):
    """By default X-Forwarded-For is not believed: a new one per request does not escape
    the limit of wrong links, and a valid link from that same client is still answered."""
    srv = WebServer(base.config)
    try:
        codes = [get(srv.port, "/l/" + f"{i:032d}",
                     headers={"X-Forwarded-For": f"198.51.100.{i}"})[0] for i in range(30)]
        assert codes[:20] == [404] * 20 and set(codes[20:]) == {429}
        assert get(srv.port, base.links[TENANT])[0] == 200      # never 429 for a valid link
    finally:
        srv.stop()
    out = srv.output()
    assert out.count("unknown or revoked link") <= 2 and out.count("too many wrong links") <= 2


def documented_caddyfile(site_port: int, upstream_port: int, data: Path) -> str:
    """docs/web.md's Caddyfile, as the page shows it, served on a loopback port in plain
    HTTP (no certificate here), with Caddy's admin endpoint off (tests run side by side)."""
    page = (ROOT / "docs" / "web.md").read_text(encoding="utf-8")
    text = page.split("# /etc/caddy/Caddyfile\n", 1)[1].split("```", 1)[0]
    assert "solaire.example.org {" in text and "reverse_proxy 127.0.0.1:8080" in text
    text = text.replace("{\n\tservers {", "{\n\tadmin off\n\tauto_https off\n"
                        f"\tstorage file_system {data}\n\tservers {{", 1)
    return (text.replace("solaire.example.org {", f"http://127.0.0.1:{site_port} {{")
                .replace("127.0.0.1:8080", f"127.0.0.1:{upstream_port}"))


def test_behind_caddy_each_client_is_itself(base, tmp_path):
    """Through a real Caddy (Debian's, run with the Caddyfile docs/web.md shows), with
    ``trusted_proxies = ["127.0.0.1"]``: each client is limited on its own address (Caddy
    replaces the X-Forwarded-For a client sends), a blocked client's valid link is answered,
    and a client that reaches pvshare directly cannot choose its address with the header."""
    cfg = with_web(base, "proxied", 'trusted_proxies = ["127.0.0.1"]\n')
    srv = WebServer(cfg)
    port = free_port()
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(documented_caddyfile(port, srv.port, tmp_path / "caddy"),
                         encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path)}
    proxy = subprocess.Popen(["caddy", "run", "--config", str(caddyfile), "--adapter",
                              "caddyfile"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:                                  # ready when Caddy answers through
            try:
                if get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert proxy.poll() is None, proxy.stderr.read()
            assert time.monotonic() < deadline, "caddy did not start"
            time.sleep(0.1)
        a, b = "127.0.0.7", "127.0.0.8"
        codes = [get(port, "/l/" + f"{i:032d}", source=a,
                     headers={"X-Forwarded-For": f"198.51.100.{i}"})[0] for i in range(25)]
        assert codes[:20] == [404] * 20 and set(codes[20:]) == {429}
        assert get(port, base.links[TENANT], source=a)[0] == 200  # valid: never 429
        assert get(port, "/l/" + "9" * 32, source=b)[0] == 404    # b is not a
        # straight to pvshare from an untrusted address: the header is ignored
        direct = [get(srv.port, "/l/" + f"{i:032d}", source="127.0.0.9",
                      headers={"X-Forwarded-For": a})[0] for i in range(3)]
        assert direct == [404, 404, 404]
    finally:
        proxy.terminate()
        proxy.wait(10)
        srv.stop()
