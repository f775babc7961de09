"""Datasets: read files, detect shapes, check rows, tokenize with loss masks."""
