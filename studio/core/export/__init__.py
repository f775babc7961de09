"""Take a run's result away: folders, checks, model cards."""
