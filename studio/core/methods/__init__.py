"""Fine-tuning methods: the registry of what each method is, and its builder."""
