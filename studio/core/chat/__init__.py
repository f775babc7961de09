"""Chat with a model through its own template."""
