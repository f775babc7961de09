"""The headless engine. Never imports Qt (enforced by import-linter and tests)."""
