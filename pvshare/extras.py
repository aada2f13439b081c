"""Optional parts of pvshare (the ``[project.optional-dependencies]`` extras).

The base install runs the daemon and ``pvshare allocate``; the forecast, the reports, Parquet
export, the demo and the web page each come with an extra. When a command needs a library of
an extra that is not installed, the user gets one clear error naming the extra to install
(:class:`MissingExtraError`, exit code 2), not a traceback.
"""

from __future__ import annotations

import importlib.util

from pvshare.errors import PvshareError

#: Top-level import name -> the extra that installs it.
EXTRA_OF_MODULE = {
    "pandas": "export", "pvlib": "forecast", "scipy": "forecast",
    "matplotlib": "reports", "jinja2": "reports", "weasyprint": "reports", "openpyxl": "reports",
    "pyarrow": "parquet",
    "amqtt": "demo", "tomli_w": "reports",
    "influxdb_client": "influx",
    "starlette": "web", "uvicorn": "web", "segno": "web",
}

#: The modules whose presence means an extra is installed.
PROBE_OF_EXTRA = {"forecast": ("pandas", "pvlib"), "reports": ("matplotlib", "jinja2",
                  "weasyprint"), "export": ("pandas",), "parquet": ("pandas", "pyarrow"),
                  "demo": ("amqtt", "tomli_w", "pandas", "pvlib"),
                  "influx": ("influxdb_client",), "web": ("starlette", "uvicorn", "segno")}

#: The extra a command group needs, preferred when it provides the missing module.
EXTRA_OF_COMMAND = {"forecast": "forecast", "report": "reports", "export": "export",
                    "demo": "demo", "simulate": "demo", "web": "web",
                    "households": "reports"}


class MissingExtraError(PvshareError):
    """A command needs a library that comes with an extra that is not installed.

    Parameters
    ----------
    extra : str
        The extra's name (``forecast``, ``reports``...).
    module : str
        The missing top-level module.
    """

    def __init__(self, extra: str, module: str):
        self.extra = extra
        self.module = module
        super().__init__(str(self))

    def __str__(self) -> str:
        from pvshare.i18n import _
        return _("this needs the '{extra}' extra ({module} is not installed): "
                 "pip install 'pvshare[{extra}]'").format(extra=self.extra, module=self.module)


def installed(extra: str) -> bool:
    """Whether every library of ``extra`` can be imported (without importing it)."""
    return all(importlib.util.find_spec(m) is not None for m in PROBE_OF_EXTRA[extra])


def missing_extra(exc: ModuleNotFoundError, command: str | None = None
                  ) -> MissingExtraError | None:
    """The :class:`MissingExtraError` that explains ``exc`` (raised while running the
    command group ``command``), or ``None`` if no extra provides the missing module (then it
    is a bug or a broken install).
    """
    top = (exc.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    preferred = EXTRA_OF_COMMAND.get(command or "")
    if preferred and top in PROBE_OF_EXTRA.get(preferred, ()):
        extra = preferred
    return MissingExtraError(extra, top)
