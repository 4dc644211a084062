"""driftgate: the regression gate for LLM experiments."""

__version__ = "0.1.0"
