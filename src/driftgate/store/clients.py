"""The environment that points an unmodified ddtrace script at the embedded store."""

from __future__ import annotations

from collections.abc import Mapping

PLACEHOLDER_KEY = "driftgate-local"


def client_env(url: str, base: Mapping[str, str]) -> dict[str, str]:
    """`base` plus what ddtrace needs to record into the store at `url`, offline.

    ddtrace drops experiment data in agentless mode without keys, so placeholders fill
    unset ones. APM tracing and telemetry are switched off unless the user chose otherwise:
    with no agent and no network they only cost seconds of failed connections at exit.
    """
    env = dict(base)
    env["DD_LLMOBS_OVERRIDE_ORIGIN"] = url
    for key in ("DD_API_KEY", "DD_APP_KEY"):
        if not env.get(key):
            env[key] = PLACEHOLDER_KEY
    env.setdefault("DD_APM_TRACING_ENABLED", "false")
    env.setdefault("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
    env.setdefault("DD_REMOTE_CONFIGURATION_ENABLED", "false")
    return env
