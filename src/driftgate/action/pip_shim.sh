#!/bin/sh
# `pip` in the Action's run environments: uv's pip interface, for the environment this file is in.
# The image carries no pip of its own (about 12 MB with its bytecode): `pip install -r
# requirements.txt`, `pip freeze`, `pip uninstall -y` work as they do with pip; `python -m pip`
# does not (there is no pip module), so a setup writes `pip install ...` or `uv pip install ...`.
# Installing pip itself (`pip install pip`) replaces this file with the real one.
VIRTUAL_ENV=$(cd "$(dirname "$0")/.." && pwd -P)
export VIRTUAL_ENV
case "${1-}" in
-V | --version)
  echo "uv pip ($(uv --version)) for $VIRTUAL_ENV"
  exit 0
  ;;
esac
exec uv pip "$@"
