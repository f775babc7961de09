"""Errors the user can fix. Standard library only.

A `UserError` carries a one-line reason meant for a person: the CLI prints it and exits 2,
the app shows it in plain words. Anything else is a bug and may show a traceback.
"""


class UserError(Exception):
    """Bad input the user can fix (a path, a key, a dataset row). Message is one line."""

    def __init__(self, message: str, *, hint: str = ""):
        super().__init__(message)
        self.hint = hint

    def __reduce__(self):  # keep the hint when the error crosses a process boundary
        return (_rebuild, (type(self), str(self), self.hint))

    def one_line(self) -> str:
        text = str(self).replace("\n", " ").strip()
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(UserError):
    """An unknown key, a wrong type or an out-of-range value in a run config."""


class DataError(UserError):
    """A dataset that cannot be read, or rows that cannot be trained on."""


class ModelError(UserError):
    """A model folder or hub id that cannot be loaded as asked."""


class Cancelled(UserError):
    """A long computation stopped because the user, or a newer request, no longer wants its
    result (a child process stopped, a scan or a projection cut short). Not a failure: workers
    drop it; shown anyway, it reads as one word."""

    def __init__(self, what: str = "cancelled", *, hint: str = ""):
        super().__init__(what, hint=hint)


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (library errors run over many lines), or its
    type name when it has none: the tail of a one-line reason."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _rebuild(cls: type, message: str, hint: str) -> UserError:
    return cls(message, hint=hint)
