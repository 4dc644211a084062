# The Action's image: `runs.image` in action.yml builds it, and the release publishes it.
#
# Two environments on the base's Python, and uv:
#   /opt/driftgate  driftgate's own venv; not on PATH (the entrypoint names it, and
#                   /usr/local/bin/driftgate links to its command): the user's command never
#                   sees its packages.
#   /opt/venv       the run environment: ddtrace preinstalled at the locked version, first on
#                   PATH; `setup` installs there (`pip` is uv's pip, see the shim).
#   uv, uvx         in /usr/local/bin: the `python-version` input makes another run environment
#                   with it, downloading that CPython at run time.
#
# BASE_IMAGE is any Debian-like image with python3 (>= 3.11) and apt: the official slim Python
# image by default; the container test passes a Debian trixie image built with debootstrap
# (python3, python3-venv, ca-certificates: no git, as in the official image) because Docker Hub
# is out of its reach. So nothing below relies on what only the official image has.
# docs/container.md gives the sizes, layer by layer and package by package.
ARG BASE_IMAGE=python:3.13-slim

# ---------------------------------------------------------------------------------- tools
FROM ${BASE_IMAGE} AS tools

# uv is pinned, so that the same commit builds the same image. UV_SYSTEM_CERTS: trust the base's
# CA store (a build behind a TLS-inspecting proxy works once the base trusts the proxy's CA).
# UV_PYTHON_DOWNLOADS: the base's Python, never another. The bytecode the image keeps is
# compiled by the commands given PYTHONPYCACHEPREFIX=/opt/pycache below (where the final
# image's Python looks for it), and only by them: the build's own Python runs (numpy's build,
# pip) leave nothing there.
ARG UV_VERSION=0.13.9
ENV UV_SYSTEM_CERTS=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# What the base lacks of: binutils (`strip`), git (its core is copied out below), compilers and
# Python's headers (numpy is built here, see below).
RUN set -eu; \
    missing=; \
    command -v strip >/dev/null 2>&1 || missing="$missing binutils"; \
    command -v git >/dev/null 2>&1 || missing="$missing git"; \
    command -v gcc >/dev/null 2>&1 || missing="$missing gcc"; \
    command -v g++ >/dev/null 2>&1 || missing="$missing g++"; \
    python3 -c 'import os, sysconfig; os.stat(sysconfig.get_paths()["include"] + "/Python.h")' \
        2>/dev/null || missing="$missing python3-dev"; \
    if [ -n "$missing" ]; then \
        apt-get update -qq; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null; \
    fi; \
    python3 -m venv /opt/uv-install; \
    /opt/uv-install/bin/pip install --quiet "uv==${UV_VERSION}"; \
    install -D -m 0755 /opt/uv-install/bin/uv /opt/uv/uv; \
    install -D -m 0755 /opt/uv-install/bin/uvx /opt/uv/uvx; \
    rm -rf /opt/uv-install
ENV PATH=/opt/uv:${PATH}

# git's core only: driftgate reads the checkout's history with builtins (rev-parse, merge-base,
# rev-list, ...) and the demo commits. The Debian package with its dependencies is ~105 MB
# (perl alone is 49 MB, the https transport and its libraries ~8 MB); this is 4 MB. Fetching
# over https is left out (see docs/container.md). Libraries the base lacks would be copied
# too; on Debian's slim images git's core needs none (libc, zlib, pcre2).
RUN set -eu; \
    root=/opt/git-core; \
    mkdir -p "$root/usr/bin" "$root/usr/lib/git-core" "$root/usr/share/git-core"; \
    cp /usr/bin/git "$root/usr/bin/git"; \
    ln -s ../../bin/git "$root/usr/lib/git-core/git"; \
    cp -a /usr/share/git-core/templates "$root/usr/share/git-core/"; \
    strip --strip-unneeded "$root/usr/bin/git"

# ---------------------------------------------------------------------------------- run environment
FROM tools AS runenv

# The lock, exported with hashes: the run environment gets ddtrace and what it needs, checked
# against the lock's hashes; the same file lets `python-version` install the same ddtrace into
# an environment on another Python at run time (DRIFTGATE_RUN_REQUIREMENTS).
COPY pyproject.toml uv.lock /src/
RUN set -eu; \
    mkdir -p /opt/driftgate-share; \
    uv export --project /src --frozen --no-dev --extra ddtrace --no-emit-project --quiet \
        --output-file /opt/driftgate-share/run-requirements.txt; \
    ddtrace=$(grep -o '^ddtrace==[^ ;]*' /opt/driftgate-share/run-requirements.txt); \
    uv venv --quiet --python "$(command -v python3)" /opt/venv; \
    uv pip install --quiet --python /opt/venv --require-hashes \
        --constraints /opt/driftgate-share/run-requirements.txt "$ddtrace"; \
    site=$(echo /opt/venv/lib/python3*/site-packages); \
    # Never imported: type stubs, C sources. Unneeded: the symbol tables of native modules (3 MB).
    find "$site" -type f \( -name '*.pyi' -o -name '*.c' -o -name '*.h' -o -name '*.pxd' \) -delete; \
    rm -rf "$site"/*-stubs; \
    find "$site" -name '*.so*' -type f -exec strip --strip-unneeded {} +; \
    # Bytecode for what a script's `import ddtrace` and LLMObs experiments import, no more.
    PYTHONPYCACHEPREFIX=/opt/pycache /opt/venv/bin/python -c \
        'import ddtrace, ddtrace.llmobs, ddtrace.llmobs._experiment; from ddtrace.llmobs import LLMObs'

# ---------------------------------------------------------------------------------- driftgate
FROM runenv AS build

# driftgate's dependencies from the lock, before any source is copied (code changes do not
# reinstall them), without:
#   cryptography  PyGithub's GitHub App (JWT) signing only: driftgate authenticates with tokens,
#                 and PyJWT imports it only when it is there
#   pycparser     cffi's parser of C declarations, used when a cffi module is built; PyNaCl's
#                 comes built and needs only cffi's backend at run time
# numpy is built from its sdist (hash-checked, as what the build installs: the lock's
# `image-build` group) without BLAS and LAPACK: the wheel's OpenBLAS is 23 MB, and driftgate's
# arrays (a few per metric, at most the records of a run) do not need it; numpy's own
# fallbacks compute the same. Optimised for size and build time (-O1, no SIMD dispatch):
# about 5 minutes on two cores, once per lock; driftgate's comparisons run as fast
# (docs/container.md has the figures).
# Then what is never imported at run time goes: numpy's tests, f2py, random, fft, polynomial,
# testing, C headers and test modules, and numpy.linalg.lapack_lite (1.6 MB: numpy.linalg's
# functions are in _umath_linalg, which carries its own LAPACK); every package's type stubs;
# C sources and headers (compilers read them, Python does not); native symbol tables.
# (scipy is a development dependency only: compare/special.py computes the statistics.)
RUN set -eu; \
    uv export --project /src --frozen --no-dev --no-emit-project --quiet \
        --prune cryptography --prune pycparser --output-file /tmp/driftgate.txt; \
    uv export --project /src --frozen --only-group image-build --no-emit-project --quiet \
        --output-file /tmp/build-constraints.txt; \
    uv venv --quiet --python "$(command -v python3)" /opt/driftgate; \
    uv pip install --quiet --python /opt/driftgate --require-hashes --no-deps -r /tmp/driftgate.txt \
        --no-binary numpy --build-constraints /tmp/build-constraints.txt \
        -C setup-args=-Dblas=none -C setup-args=-Dlapack=none -C setup-args=-Dallow-noblas=true \
        -C setup-args=-Ddisable-optimization=true -C setup-args=-Ddisable-svml=true \
        -C setup-args=-Ddisable-highway=true -C setup-args=-Ddisable-intel-sort=true \
        -C setup-args=-Doptimization=1 -C "setup-args=-Dtest-simd=[]"; \
    site=$(echo /opt/driftgate/lib/python3*/site-packages); \
    np="$site/numpy"; \
    rm -rf "$np/f2py" "$np/random" "$np/fft" "$np/polynomial" "$np/testing"; \
    find "$np" -depth -type d -name tests -exec rm -rf {} +; \
    rm -rf "$np/_pyinstaller" "$np/_core/include" "$np/_core/lib" "$np/conftest.py" \
        "$np"/_core/_simd.* "$np"/_core/_multiarray_tests.* "$np"/_core/_umath_tests.* \
        "$np"/_core/_rational_tests.* "$np"/_core/_struct_ufunc_tests.* \
        "$np"/_core/_operand_flag_tests.* "$np"/linalg/lapack_lite.*; \
    find "$site" -type f \( -name '*.pyi' -o -name '*.c' -o -name '*.h' -o -name '*.pxd' \) -delete; \
    find "$site" -name '*.so*' -type f -exec strip --strip-unneeded {} +; \
    mv /opt/driftgate-share/run-requirements.txt /opt/driftgate/run-requirements.txt

# Then the project itself, as a wheel (not editable): the bundled example travels inside it.
# The whole context in one layer: .dockerignore lets only the lock, the package and the
# example in. Bytecode: for every driftgate module (the command line imports a command's
# modules when it runs), and so for what they import.
COPY . /src/
RUN set -eu; \
    uv pip install --quiet --python /opt/driftgate --no-deps /src; \
    install -m 0755 /src/src/driftgate/action/pip_shim.sh /opt/venv/bin/pip; \
    ln -s pip /opt/venv/bin/pip3; \
    export PYTHONPYCACHEPREFIX=/opt/pycache; \
    /opt/driftgate/bin/python -c 'import importlib, pkgutil, driftgate; [importlib.import_module(m.name) for m in pkgutil.walk_packages(driftgate.__path__, "driftgate.") if not m.name.endswith("__main__")]'; \
    /opt/driftgate/bin/driftgate --version; \
    find /opt/venv /opt/driftgate -depth -type d -name __pycache__ -exec rm -rf {} +

# ---------------------------------------------------------------------------------- final
FROM ${BASE_IMAGE}

# PATH: the run environment first; driftgate's own venv is not on it. Unbuffered, so log lines
# reach the job log as they happen and in order. PYTHONPYCACHEPREFIX: bytecode is read from and
# written to /opt/pycache, never next to the sources, so a script imported from the workspace
# leaves no root-owned __pycache__ folders in the user's checkout, while what one process of a
# run compiled is reused by the next (and what the build compiled by all). UV_SYSTEM_CERTS: uv
# trusts the system's CA store, as pip does. UV_LINK_MODE: the uv cache lives in the workspace
# (another file system than the environments), where hard links cannot reach.
ENV PATH=/opt/venv/bin:${PATH} \
    VIRTUAL_ENV=/opt/venv \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONPYCACHEPREFIX=/opt/pycache \
    UV_SYSTEM_CERTS=1 \
    UV_LINK_MODE=copy \
    DRIFTGATE_RUN_VENV=/opt/venv \
    DRIFTGATE_RUN_REQUIREMENTS=/opt/driftgate/run-requirements.txt

# Exec form: the runner passes inputs as INPUT_<NAME> with hyphens kept (INPUT_FAIL-ON), and a
# /bin/sh wrapper (dash) would drop those from the environment. No USER and no WORKDIR: the
# runner runs the container as root with --workdir /github/workspace.
ENTRYPOINT ["/opt/driftgate/bin/driftgate", "action"]

# From the least to the most often changed. git: the runner mounts the workspace owned by
# another user, so git would refuse it ("dubious ownership"); --system because the runner sets
# HOME=/github/home, where a --global setting made here would not be found.
COPY --from=build /opt/git-core/ /
COPY --from=build /opt/uv/ /usr/local/bin/
RUN git config --system --add safe.directory /github/workspace \
 && ln -s /opt/driftgate/bin/driftgate /usr/local/bin/driftgate
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/driftgate /opt/driftgate
COPY --from=build /opt/pycache /opt/pycache
