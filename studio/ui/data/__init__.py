"""The Data page: table, problems, length histogram, template preview."""
