"""Take a run's result away: folders, GGUF files, checks, model cards."""

from studio.core.errors import UserError

# What `export --format` accepts.
FORMATS = ("adapter", "merged", "gguf")


class ExportError(UserError):
    """An export that cannot be made as asked, or that failed its checks (nothing written)."""
