"""git's http(s) transport in the image: the data branch of run history (ci/databranch.py) is
fetched and pushed over https from the user's checkout, with the credentials actions/checkout
persists. The smart-HTTP remote is tests/ci/git_http.py (`git http-backend` behind a server
that refuses as GitHub does), run on the host and reached from the container over the host's
network, as the other container tests reach the GitHub fake."""

from __future__ import annotations

import base64
import ipaddress
import json
import ssl
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.ci import git_http
from tests.container.harness import git, run_action
from tests.events import push_event

pytestmark = pytest.mark.container

TOKEN = "ghs_containerTOKEN0123456789abcdef"
# What actions/checkout persists in the checkout's config: the token as a basic-auth header
# for the server's URL, which git sends on every request there.
AUTH_HEADER = (
    "AUTHORIZATION: basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
)
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def in_image(
    image: str, *args: str, mounts: Sequence[tuple[Path, str]] = ()
) -> subprocess.CompletedProcess[str]:
    command = ["docker", "run", "--rm", "--network", "host", "--entrypoint", "git"]
    for host, inside in mounts:
        command += ["-v", f"{host}:{inside}:ro"]
    return subprocess.run(
        [*command, image, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare repository with one commit on main, in a folder of its own (the server's root)."""
    bare = tmp_path / "remotes" / "acme.git"
    seed = tmp_path / "seed"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    (seed / "README.md").write_text("acme\n")
    git(seed, "add", ".")
    git(seed, "-c", "user.name=ci", "-c", "user.email=ci@driftgate.invalid", "commit", "-qm", "one")
    git(seed, "push", "-q", str(bare), "main")
    return bare


def checkout(remote: Path, folder: Path, url: str) -> Path:
    """The workspace as actions/checkout leaves it: a clone whose origin is the https URL, with
    the token persisted for that URL."""
    subprocess.run(["git", "clone", "-q", str(remote), str(folder)], check=True)
    git(folder, "remote", "set-url", "origin", f"{url}/acme.git")
    git(folder, "config", f"http.{url}/.extraheader", AUTH_HEADER)
    return folder


def test_the_https_transport_is_there_and_loads(action_image: str) -> None:
    # Nothing listens on port 1: git-remote-https runs, with its libraries, and curl says so.
    # Without the transport git would answer that there is no remote helper for https.
    out = in_image(action_image, "ls-remote", "https://127.0.0.1:1/acme.git")

    assert out.returncode == 128, out.stderr
    assert "Failed to connect to 127.0.0.1 port 1" in out.stderr, out.stderr
    assert "remote-https" not in out.stderr and "remote helper" not in out.stderr


def test_git_lists_fetches_and_pushes_over_http(
    action_image: str, remote: Path, tmp_path: Path
) -> None:
    script = (
        "set -e\n"
        "git ls-remote --heads origin\n"
        "git fetch -q origin main\n"
        "git -c user.name=ci -c user.email=ci@driftgate.invalid commit -q --allow-empty -m two\n"
        "git push -q origin HEAD:refs/heads/from-container\n"
        "git rev-parse HEAD FETCH_HEAD\n"
    )
    main = git(remote, "rev-parse", "main")
    with git_http.serve(remote.parent, "read-write") as url:
        workspace = checkout(remote, tmp_path / "workspace", url)
        result = run_action(
            workspace,
            push_event("acme/acme", main, "0" * 40),
            {},
            image=action_image,
            entrypoint="sh",
            args=["-c", script],
        )

    assert result.exit_code == 0, result.output
    listed, pushed, fetched = result.stdout.splitlines()
    assert listed == f"{main}\trefs/heads/main"
    assert fetched == main
    # The push went through the server (it needs the persisted credentials) into the remote.
    assert git(remote, "rev-parse", "from-container") == pushed
    assert git(remote, "log", "-1", "--format=%s", "from-container") == "two"


def certificates(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A certificate authority (its PEM file) and a server context holding a certificate it
    signed for 127.0.0.1."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "driftgate test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context


def test_https_verifies_the_server_against_the_system_ca_bundle(
    action_image: str, remote: Path, tmp_path: Path
) -> None:
    ca_file, context = certificates(tmp_path)
    main = git(remote, "rev-parse", "main")
    with git_http.serve(remote.parent, "read-only", tls=context) as url:
        untrusted = in_image(action_image, "ls-remote", f"{url}/acme.git")
        # The base's CA bundle (ca-certificates) with the test's CA in it, where the base
        # keeps it: nothing in the image's git configuration points there.
        trusted = in_image(
            action_image, "ls-remote", "--heads", f"{url}/acme.git", mounts=[(ca_file, CA_BUNDLE)]
        )

    assert untrusted.returncode == 128, untrusted.stderr
    assert "certificate" in untrusted.stderr.lower(), untrusted.stderr
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout.splitlines() == [f"{main}\trefs/heads/main"]


# driftgate's data branch in the container: a base-branch run writes (its first commit), a
# pull request's shallow checkout reads it back, and a read-only token's push is refused.
DATA_BRANCH = """
import json, os, subprocess
from pathlib import Path
from driftgate.ci.databranch import DataBranch

here = Path("/github/workspace")
written = DataBranch(here).write({"runs/arith/1.jsonl": b'{"score": 1}\\n'})
subprocess.run(["git", "clone", "-q", "--depth", "1", os.environ["REMOTE_URL"], "/tmp/pr"],
               check=True)
read = DataBranch(Path("/tmp/pr")).read()
refused = DataBranch(here, remote="readonly").write({"runs/arith/2.jsonl": b"2\\n"})
print(json.dumps({
    "written": [written.status, written.pushed, written.commit, list(written.notes)],
    "read": [read.status, {k: v.decode() for k, v in read.files.items()}, list(read.notes)],
    "refused": [refused.status, list(refused.notes)],
}))
"""


def test_the_data_branch_is_written_read_and_refused_from_the_container(
    action_image: str, remote: Path, tmp_path: Path
) -> None:
    main = git(remote, "rev-parse", "main")
    with (
        git_http.serve(remote.parent, "read-write") as url,
        git_http.serve(remote.parent, "read-only") as read_only,
    ):
        workspace = checkout(remote, tmp_path / "workspace", url)
        git(workspace, "remote", "add", "readonly", f"{read_only}/acme.git")
        git(workspace, "config", f"http.{read_only}/.extraheader", AUTH_HEADER)
        result = run_action(
            workspace,
            push_event("acme/acme", main, "0" * 40),
            {},
            {"REMOTE_URL": f"{url}/acme.git", "GITHUB_TOKEN": TOKEN},
            image=action_image,
            entrypoint="/opt/driftgate/bin/python",
            args=["-c", DATA_BRANCH],
        )

    assert result.exit_code == 0, result.output
    seen = json.loads(result.stdout)
    status, pushed, commit, notes = seen["written"]
    assert (status, pushed) == ("ok", True), notes
    assert "as its first commit" in notes[0]
    # On the remote: the branch, its file, and the bot as its author.
    assert git(remote, "rev-parse", "driftgate-data") == commit
    assert git(remote, "show", "driftgate-data:runs/arith/1.jsonl") == '{"score": 1}'
    assert git(remote, "log", "-1", "--format=%an", "driftgate-data") == "github-actions[bot]"

    status, files, notes = seen["read"]
    assert status == "ok", notes
    assert files == {"runs/arith/1.jsonl": '{"score": 1}\n'}
    assert "the checkout is shallow" in notes[0]

    status, notes = seen["refused"]
    assert status == "denied", notes
    assert "403" in notes[0] and "contents: write" in notes[0]
    assert git(remote, "ls-tree", "-r", "--name-only", "driftgate-data") == "runs/arith/1.jsonl"
    for note in (*seen["written"][3], *seen["read"][2], *notes):
        assert TOKEN not in note
