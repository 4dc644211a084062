"""Datadog's `key:value` tags, as experiments, spans and metrics carry them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def tag_value(tags: Iterable[Any], key: str) -> str | None:
    """The value of the first `key:value` tag; None when there is none (non-strings skipped)."""
    prefix = key + ":"
    for tag in tags:
        if isinstance(tag, str) and tag.startswith(prefix):
            return tag[len(prefix) :]
    return None
