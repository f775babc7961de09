"""Take a run's result away: folders, checks, model cards."""

# What `export --format` accepts (folder.py refuses gguf with the way to get one, for now).
FORMATS = ("adapter", "merged", "gguf")
