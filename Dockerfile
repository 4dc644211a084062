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

# ---------------------------------------------------------------------------------- git
FROM ${BASE_IMAGE} AS git

# git for the image, staged in /opt/git-core: its core (driftgate reads the checkout's history
# with builtins: rev-parse, merge-base, rev-list, ...; the demo commits) and its http(s)
# transport, git-remote-http, which `git fetch` and `git push` run for an https remote: the
# data branch of run history (ci/databranch.py) is fetched and pushed that way, with the
# credentials actions/checkout persists. With them, exactly the shared libraries they link
# that the base lacks: libcurl-gnutls and what it links, 24 libraries (10.7 MB) on Debian 13;
# a library the base has (by soname) is the base's. The base's libraries are listed before apt
# installs anything. Debian's git package with its dependencies is ~105 MB (perl alone is
# 49 MB); this is 17.2 MB (git 4.1, the transport 2.4; docs/container.md). Left out: perl and
# what needs it, git's other programs (dumb-HTTP push, http-backend, ...), the transport's
# ftp(s) names. Certificates: libcurl verifies against the base's CA bundle
# (/etc/ssl/certs/ca-certificates.crt, from ca-certificates), so git needs no setting for it.
# A stage of its own, from the base: changing it never rebuilds numpy.
RUN set -eu; \
    find / -xdev \( -type f -o -type l \) -name '*.so*' -printf '%f\n' | sort -u >/tmp/base-libs; \
    apt-get update -qq; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git binutils >/dev/null; \
    root=/opt/git-core; \
    core=/usr/lib/git-core; \
    mkdir -p "$root/usr/bin" "$root$core" "$root/usr/share/git-core"; \
    cp /usr/bin/git "$root/usr/bin/git"; \
    ln -s ../../bin/git "$root$core/git"; \
    cp "$core/git-remote-http" "$root$core/git-remote-http"; \
    ln -s git-remote-http "$root$core/git-remote-https"; \
    cp -a /usr/share/git-core/templates "$root/usr/share/git-core/"; \
    ldd /usr/bin/git "$core/git-remote-http" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' \
        | sort -u >/tmp/needed; \
    while read -r name path; do \
        grep -qxF "$name" /tmp/base-libs && continue; \
        real=$(readlink -f "$path"); \
        mkdir -p "$root${real%/*}"; \
        cp "$real" "$root$real"; \
        [ "${real##*/}" = "$name" ] || ln -s "${real##*/}" "$root${real%/*}/$name"; \
    done </tmp/needed; \
    strip --strip-unneeded "$root/usr/bin/git" "$root$core/git-remote-http"; \
    find "$root" -type f -name '*.so*' -exec strip --strip-unneeded {} +

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

# What the base lacks of: binutils (`strip`), compilers and Python's headers (numpy is built
# here, see below).
RUN set -eu; \
    missing=; \
    command -v strip >/dev/null 2>&1 || missing="$missing binutils"; \
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
COPY --from=git /opt/git-core/ /
COPY --from=build /opt/uv/ /usr/local/bin/
# The https transport must load on this base with the libraries copied: it prints its usage
# when it runs, and the build stops here when a library is missing.
RUN git config --system --add safe.directory /github/workspace \
 && ln -s /opt/driftgate/bin/driftgate /usr/local/bin/driftgate \
 && { /usr/lib/git-core/git-remote-https 2>&1 || true; } | grep -q 'usage: git remote-curl'
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/driftgate /opt/driftgate
COPY --from=build /opt/pycache /opt/pycache
