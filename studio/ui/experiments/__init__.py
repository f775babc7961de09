"""The Experiments page: the comparison board, the run queue, sweeps and methods side by side."""
