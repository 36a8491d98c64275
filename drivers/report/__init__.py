"""The run report: Target / Acceptable / Current table, plots, recommendations, verdict."""
