"""The image's size: what the Dockerfile adds to the base fits in 125 MB, so that on the official
slim Python image (about 120 MB, git not included: the Dockerfile brings git's core) the whole
image stays within 250 MB. The test's base is the same kind of image (Debian 13, its Python 3.13,
no git); its own size is printed beside the figures."""

from __future__ import annotations

import subprocess

import pytest

from tests.container.harness import (
    added_layers,
    base_image,
    image_size,
)

pytestmark = pytest.mark.container

MB = 1_000_000
ADDED_BUDGET = 125 * MB


def test_the_layers_driftgate_adds_fit_in_125_mb(action_image: str) -> None:
    base = base_image()
    layers = added_layers(action_image, base)
    added = image_size(action_image) - image_size(base)
    # The layers add up to the difference of the images' sizes: none is left out.
    assert sum(layer.size for layer in layers) == added
    table = "\n".join(f"{layer.size / MB:8.1f} MB  {layer.created_by[:90]}" for layer in layers)
    print(
        f"\nbase {base}: {image_size(base) / MB:.1f} MB; added {added / MB:.1f} MB in "
        f"{len(layers)} layers:\n{table}"
    )
    assert added <= ADDED_BUDGET, (
        f"the layers above the base are {added / MB:.1f} MB "
        f"(budget {ADDED_BUDGET / MB:.0f} MB):\n{table}"
    )


def test_every_import_survives_the_stripping(action_image: str) -> None:
    """Native modules were stripped, parts of numpy deleted and pycparser left out: what
    driftgate and a ddtrace script import still imports, numpy computes (matmul included,
    which uses BLAS), and PyNaCl (through cffi's backend) encrypts a secret as PyGithub does."""
    driftgate = (
        "import importlib, pkgutil, driftgate\n"
        "for m in pkgutil.walk_packages(driftgate.__path__, 'driftgate.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "import numpy as np, numpy.typing, nacl.public, pydantic_core, orjson\n"
        "assert (np.arange(6.0).reshape(2, 3) @ np.ones(3)).tolist() == [3.0, 12.0]\n"
        "assert float(np.percentile(np.arange(11), 50)) == 5.0\n"
        "key = nacl.public.PrivateKey.generate()\n"
        "sealed = nacl.public.SealedBox(key.public_key).encrypt(b'secret')\n"
        "assert nacl.public.SealedBox(key).decrypt(sealed) == b'secret'\n"
        "print('driftgate ok')\n"
    )
    ddtrace = (
        "import ddtrace, ddtrace.llmobs, ddtrace.internal.native._native\n"
        "import ddtrace.appsec._iast._taint_tracking._native, wrapt\n"
        "from ddtrace.llmobs import LLMObs\n"
        "print('ddtrace', ddtrace.__version__)\n"
    )
    for python, script, said in (
        ("/opt/driftgate/bin/python", driftgate, "driftgate ok"),
        ("/opt/venv/bin/python", ddtrace, "ddtrace 4."),
    ):
        proc = subprocess.run(
            ["docker", "run", "--rm", "--entrypoint", python, action_image, "-c", script],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(said), proc.stdout
