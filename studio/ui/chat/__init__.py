"""The Chat page: base and tuned side by side."""
