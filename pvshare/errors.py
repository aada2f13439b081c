"""Errors that pvshare reports to a person, each naming what is wrong and where."""

from __future__ import annotations


class PvshareError(Exception):
    """Base class of the errors the CLI shows as a clear message (exit code 2)."""

    exit_code = 2


class InputError(PvshareError):
    """Bad input data: names the file, the line (1-based, header = line 1) and the field.

    Parameters
    ----------
    message : str
        What is wrong, in plain words.
    source : str, optional
        The file (or topic, or register) the value came from.
    line : int, optional
        1-based line number in ``source``.
    field : str, optional
        Column or field name.
    """

    def __init__(self, message: str, source: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        from pvshare.i18n import _
        where = ""
        if self.source:
            where = str(self.source)
            if self.line is not None:
                where += _(", line {n}").format(n=self.line)
            if self.field:
                where += _(", column '{name}'").format(name=self.field)
        elif self.field:
            where = self.field
        else:
            return self.message
        return _("{where}: {message}").format(where=where, message=self.message)


class ConfigError(PvshareError):
    """An invalid configuration file: one line per problem, each naming the field."""

    def __init__(self, path: str, problems: list[str]):
        self.path = str(path)
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        from pvshare.i18n import _
        lines = [_("{file}: {n} problem(s)").format(file=self.path, n=len(self.problems))]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)
