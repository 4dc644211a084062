# The Action's image: `runs.image` in action.yml builds it, and the release publishes it.
#
# BASE_IMAGE is any Debian-like image with python3 (>= 3.11) and its venv module: the official
# slim Python image by default; the container test passes a Debian image built with
# debootstrap (python3, python3-venv, git) because Docker Hub is out of its reach. So nothing
# below relies on what only the official image has.
ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------- build
FROM ${BASE_IMAGE} AS build

# uv lives in this stage only. Pinned so that the same commit builds the same image.
ARG UV_VERSION=0.13.9
# UV_NATIVE_TLS: trust the base image's CA store (a build behind a TLS-inspecting proxy works
# once the base trusts the proxy's CA). UV_PYTHON_DOWNLOADS: the base's Python, never another.
ENV UV_NATIVE_TLS=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# /opt/driftgate is a plain venv (with pip, from ensurepip) so that an action's `setup`
# command can `pip install` a script's requirements next to ddtrace at run time.
RUN python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --quiet "uv==${UV_VERSION}" \
 && python3 -m venv /opt/driftgate

# Dependencies first, from the lock only: this layer is rebuilt when uv.lock changes, not
# when the code does. The ddtrace extra is included, so ddtrace-only scripts need no setup.
# numpy's and scipy's own test suites (about 45 MB) are never imported at run time.
COPY pyproject.toml uv.lock /src/
RUN /opt/uv/bin/uv export --project /src --frozen --no-dev --extra ddtrace --no-emit-project \
        --quiet --output-file /tmp/requirements.txt \
 && /opt/uv/bin/uv pip install --quiet --python /opt/driftgate/bin/python \
        --require-hashes --no-deps -r /tmp/requirements.txt \
 && find /opt/driftgate/lib/python3*/site-packages/numpy /opt/driftgate/lib/python3*/site-packages/scipy \
        -depth -type d -name tests -exec rm -rf {} +

# Then the project itself, as a wheel (not editable): the bundled example travels inside it.
# The whole context in one layer: .dockerignore lets only the lock, the package and the
# example in.
COPY . /src/
RUN /opt/uv/bin/uv pip install --quiet --python /opt/driftgate/bin/python --no-deps /src \
 && /opt/driftgate/bin/driftgate --version

# ---------------------------------------------------------------------------------- final
FROM ${BASE_IMAGE}

# git: driftgate reads the checkout's history. The runner mounts the workspace owned by
# another user, so git would refuse it ("dubious ownership"); --system because the runner
# sets HOME=/github/home, where a --global setting made here would not be found.
RUN set -eu; \
    if ! command -v git >/dev/null 2>&1; then \
        apt-get update -qq; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git >/dev/null; \
        rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log; \
    fi; \
    git config --system --add safe.directory /github/workspace

# The venv first on PATH: `driftgate`, `python` and `pip` are the venv's, so a script run by the
# action sees ddtrace, and `setup` installs next to it. Unbuffered, so log lines reach the job
# log as they happen and in order. No bytecode written: a script imported from the workspace
# would otherwise leave root-owned __pycache__ folders in the user's checkout (the venv's
# bytecode was compiled at build time, which saves about 1.5 s at each start).
ENV PATH=/opt/driftgate/bin:${PATH} \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# Exec form: the runner passes inputs as INPUT_<NAME> with hyphens kept (INPUT_FAIL-ON), and a
# /bin/sh wrapper (dash) would drop those from the environment. No USER and no WORKDIR: the
# runner runs the container as root with --workdir /github/workspace.
ENTRYPOINT ["driftgate", "action"]

# Last, as it is what changes: the settings above stay cached when the code changes.
COPY --from=build /opt/driftgate /opt/driftgate
