"""Take a run's result away: folders, GGUF files, checks, model cards."""

# What `export --format` accepts.
FORMATS = ("adapter", "merged", "gguf")
