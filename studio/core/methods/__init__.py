"""Fine-tuning methods: the registry of what each method is (registry.py), its builder
(builders.py) and its parameter count (counts.py)."""
