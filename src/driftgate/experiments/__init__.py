"""Experiments as Datadog's API serves them: the HTTP client, the events read into columns,
the data model, finding what a command recorded, and choosing the baseline."""
