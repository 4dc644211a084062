"""Which links survive in a report that came from elsewhere (a pull request's artifact).

Every `url` (and `*_url`) field of such a result is a claim by whoever wrote it; rendered,
it would be a link posted by the repository's own bot. `LinkPolicy` keeps the links that
point where a report's links legitimately go, the configured Datadog site's UI and this
repository's triggering workflow run, and `keep_links` empties the others, so that the
renderer shows their text without a link.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from driftgate.result import GateResult, ReportContext

__all__ = ["LinkPolicy", "keep_links"]


@dataclass(frozen=True)
class LinkPolicy:
    """The allowed destinations: `https://<datadog_host>/...`, and the run's pages under
    `<server_url>/<repository>/actions/runs/<run_id>`."""

    datadog_host: str  # "app.datadoghq.com", "us3.datadoghq.com"
    server_url: str | None = None  # "https://github.com"
    repository: str | None = None  # owner/name
    run_id: int | None = None

    def allows(self, url: str | None) -> bool:
        if not url or any(c.isspace() or ord(c) < 32 or c == "\\" for c in url):
            return False
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        if parts.username is not None or parts.password is not None or port is not None:
            return False
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and host == self.datadog_host.lower():
            return True
        return self._is_run_page(parts.scheme, host, parts.path)

    def _is_run_page(self, scheme: str, host: str, path: str) -> bool:
        if not (self.server_url and self.repository and self.run_id is not None):
            return False
        try:
            server = urlsplit(self.server_url)
        except ValueError:
            return False
        if scheme != server.scheme or host != (server.hostname or "").lower():
            return False
        prefix = f"{server.path.rstrip('/')}/{self.repository}/actions/runs/{self.run_id}"
        lowered, prefix = path.lower(), prefix.lower()
        return lowered == prefix or lowered.startswith(prefix + "/")


def _is_link_key(key: str) -> bool:
    return key == "url" or key.endswith("_url")


def _filtered(value: Any, policy: LinkPolicy) -> Any:
    if isinstance(value, dict):
        return {
            k: None
            if _is_link_key(k) and isinstance(v, str) and not policy.allows(v)
            else _filtered(v, policy)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_filtered(v, policy) for v in value]
    return value


def keep_links(
    result: GateResult, ctx: ReportContext, policy: LinkPolicy
) -> tuple[GateResult, ReportContext]:
    """`result` and `ctx` with every link `policy` does not allow removed (set to None)."""
    data = _filtered(result.model_dump(mode="json", by_alias=True), policy)
    run_url = ctx.run_url if policy.allows(ctx.run_url) else None
    return GateResult.model_validate(data), ctx.model_copy(update={"run_url": run_url})
