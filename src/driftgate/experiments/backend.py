"""Where the experiments live (Datadog, or an override origin such as the embedded store),
chosen the way ddtrace chooses it, and the errors a backend answers. No HTTP here: a gate
knows its backend (and hands it to the user's command) before the HTTP client is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from driftgate.errors import BackendError

DEFAULT_SITE = "datadoghq.com"
_APP_SUBDOMAIN_SITES = frozenset({"datadoghq.com", "datadoghq.eu", "ddog-gov.com"})


class NotFoundError(BackendError):
    pass


class AuthError(BackendError):
    pass


@dataclass(frozen=True)
class Backend:
    """Where experiments live, and how to authenticate there."""

    base_url: str
    api_key: SecretStr | None
    app_key: SecretStr | None
    site: str | None  # None for an override origin (the embedded store or a proxy)

    @property
    def is_datadog(self) -> bool:
        return self.site is not None

    def describe(self) -> str:
        return f"Datadog ({self.site})" if self.site else f"the experiments API at {self.base_url}"

    def experiment_url(self, experiment_id: str) -> str | None:
        """The experiment's page in Datadog's UI; None where there is no UI (an override)."""
        if self.site is None:
            return None
        return f"https://{ui_host(self.site)}/llm/experiments/{experiment_id}"


def ui_host(site: str) -> str:
    """The host of Datadog's UI on `site` (`app.datadoghq.com`, `us3.datadoghq.com`)."""
    return f"app.{site}" if site in _APP_SUBDOMAIN_SITES else site


def backend_from_env(env: Mapping[str, str]) -> Backend:
    def secret(name: str) -> SecretStr | None:
        value = env.get(name, "").strip()
        return SecretStr(value) if value else None

    override = env.get("DD_LLMOBS_OVERRIDE_ORIGIN", "").strip()
    if override:
        return Backend(override.rstrip("/"), secret("DD_API_KEY"), secret("DD_APP_KEY"), None)
    site = env.get("DD_SITE", "").strip() or DEFAULT_SITE
    return Backend(f"https://api.{site}", secret("DD_API_KEY"), secret("DD_APP_KEY"), site)
