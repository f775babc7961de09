"""The Train page: start / stop / resume, live charts, past runs."""
