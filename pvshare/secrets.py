"""Secrets never shown: credentials inside URLs redacted, and a warning when a password or
token would travel in plain text to another machine.

``redact_url("http://admin:pw@influx:8086")`` gives ``"http://admin:***@influx:8086"``;
:func:`redact` does the same for every URL inside a text (log lines, error messages), and
:class:`RedactingFilter` applies it to every log record.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from urllib.parse import urlsplit

from pvshare.i18n import _

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s:@]*)"
                              r"(?::(?P<password>[^/\s@]*))?@")


def redact_url(url: str) -> str:
    """The URL with its password (or a user name alone, which may be a token) replaced by
    ``***``.

    Parameters
    ----------
    url : str

    Returns
    -------
    str
    """
    return redact(url)


def redact(text: str) -> str:
    """Every ``scheme://user:password@`` inside ``text`` shown as ``scheme://user:***@``."""
    def one(m: re.Match) -> str:
        if m.group("password") is None:
            return f"{m.group('scheme')}***@"
        return f"{m.group('scheme')}{m.group('user')}:***@"
    return _URL_CREDENTIALS.sub(one, str(text))


class RedactingFilter(logging.Filter):
    """A logging filter that redacts credentials in URLs of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with its URLs redacted (always keeps the record)."""
        try:
            msg = record.getMessage()
        except Exception:                  # noqa: BLE001 - a bad record stays as it is
            return True
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


def install_log_redaction() -> None:
    """Redact URLs in every log record written through the root logger's handlers."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def is_local(host: str | None) -> bool:
    """Whether ``host`` is this machine (loopback addresses, ``localhost``, its own name)."""
    if not host:
        return True
    host = host.strip("[]").lower()
    if host in ("localhost", "localhost.localdomain", socket.gethostname().lower()):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.endswith(".localhost")


def plain_text_warnings(cfg) -> list[str]:
    """Warnings for credentials that would travel unencrypted to another machine.

    Parameters
    ----------
    cfg : pvshare.config.Config

    Returns
    -------
    list of str
        One line each, naming the config field; never the secret itself.
    """
    out = []
    m = cfg.mqtt
    if m is not None and (m.username or m.password or m.password_file) and not m.tls and not is_local(m.host):
        out.append(_("mqtt: the user name and password for {host} travel in plain text "
                     "(tls = false): set tls = true (and port 8883) on a network you do not "
                     "control").format(host=m.host))
    i = cfg.influxdb
    if i is not None:
        parts = urlsplit(i.url)
        if parts.username or parts.password:
            out.append(_("influxdb.url: holds a user name and password ({url}): put the "
                         "token in PVSHARE_INFLUX_TOKEN or token_file instead").format(
                             url=redact_url(i.url)))
        secret = i.token or i.token_file or parts.password
        if secret and parts.scheme == "http" and not is_local(parts.hostname):
            out.append(_("influxdb: the token for {host} travels in plain text "
                         "(http://): use https://").format(host=parts.hostname))
    return out
