"""Base models: find and load them, the starter, parameter map, memory, a run's result."""
