"""Experiments: a queue of runs on disk, sweeps that fill it, and tables that compare runs."""
