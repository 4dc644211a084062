"""Which values are secrets, and every form in which a text can carry one: redacted, and
nothing else touched."""

from __future__ import annotations

import base64
import json
import string
from urllib.parse import quote, quote_plus

from hypothesis import given
from hypothesis import strategies as st

from driftgate.redact import MASK, Redactor, secrets_in_env
from driftgate.report.escape import code_block, html_text, md_text

TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
API_KEY = "0d8b8d2f9a6c4e1b8f3a2c7d5e9f1a3b"
PASSWORD = "p@ss_w*rd&<|>`$"


def test_the_environment_s_keys_and_tokens_are_secrets_and_its_settings_are_not() -> None:
    env = {
        "GITHUB_TOKEN": TOKEN,
        "ACTIONS_RUNTIME_TOKEN": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.sig",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "abcd1234",
        "DD_API_KEY": API_KEY,
        "DD_APP_KEY": "k3y!",  # named: short is still a secret
        "INPUT_GITHUB-TOKEN": TOKEN,
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "npm_config__auth_token": "npm_abcdefghijkl",
        "DB_PASSWORD_FILE_CONTENT": "hunter22hunter",
        "MY_SECRET": "s3cr3t-value",
        "SHORT_TOKEN": "true",  # guessed by name only: too short to be one
        "PORT_KEY": "12345678",  # a number, not a secret
        "DD_SITE": "datadoghq.eu",
        "HOME": "/home/runner",
        "GITHUB_REPOSITORY": "acme/bot",
    }
    found = secrets_in_env(env)
    assert set(found) == {
        TOKEN,
        env["ACTIONS_RUNTIME_TOKEN"],
        "abcd1234",
        API_KEY,
        "k3y!",
        env["AWS_SECRET_ACCESS_KEY"],
        "npm_abcdefghijkl",
        "hunter22hunter",
        "s3cr3t-value",
    }
    # The same value named twice is one secret (one add-mask line).
    assert Redactor.of([TOKEN], env).secrets.count(TOKEN) == 1


def test_a_secret_is_redacted_as_written_and_url_encoded() -> None:
    redact = Redactor([TOKEN, PASSWORD])
    for form in (
        TOKEN,
        f"https://x-access-token:{TOKEN}@github.com/acme/bot.git",
        PASSWORD,
        quote(PASSWORD, safe=""),
        quote(PASSWORD, safe="").lower(),
        quote_plus(PASSWORD),
        f"https://user:{quote(PASSWORD, safe='')}@db.example/x",
    ):
        out = redact(f"before {form} after")
        assert out.startswith("before ") and out.endswith(" after"), out
        assert MASK in out
        assert TOKEN not in out and PASSWORD not in out
        assert quote(PASSWORD, safe="") not in out


def test_a_token_inside_git_s_basic_authorization_header_is_redacted() -> None:
    """What actions/checkout leaves in .git/config, which `git config -l` prints."""
    redact = Redactor([TOKEN])
    for user in ("x-access-token", "x", "ab", "pat"):  # every offset in base64's 3-byte groups
        header = base64.b64encode(f"{user}:{TOKEN}".encode()).decode()
        out = redact(f"http.https://github.com/.extraheader AUTHORIZATION: basic {header}")
        assert MASK in out
        # What is left of the encoding decodes to a few bits of the token at most.
        leftover = out.rsplit(MASK, 1)[1]
        assert len(leftover) <= 4, out
        assert base64.b64encode(TOKEN.encode()).decode()[:8] not in out


def test_a_secret_split_by_line_breaks_or_escaped_is_redacted() -> None:
    redact = Redactor([TOKEN, PASSWORD])
    # Wrapped output keeps its lines, without the secret.
    assert redact(f"token: {TOKEN[:10]}\n{TOKEN[10:30]}\r\n{TOKEN[30:]} done") == (
        f"token: {MASK}\n{MASK}\r\n{MASK} done"
    )
    # report.json: JSON escapes, a \n inside a string.
    text = json.dumps({"tail": f"x {PASSWORD[:4]}\n{PASSWORD[4:]} y"})
    out = redact(text)
    assert json.loads(out) == {"tail": f"x {MASK}\n{MASK} y"}
    # What the renderer makes of it: Markdown escapes, HTML entities, zero-width spaces.
    for rendered in (md_text(PASSWORD), html_text(PASSWORD), md_text(f"see {TOKEN}")):
        assert MASK in redact(rendered), rendered
        assert "ss" not in redact(rendered).replace("see", "")
    block = code_block(f"line one\n{PASSWORD}\n")
    assert PASSWORD not in redact(block) and MASK in redact(block)


def test_a_live_line_loses_the_part_of_a_secret_at_its_edge() -> None:
    redact = Redactor([TOKEN])
    assert redact.line(f"Authorization: token {TOKEN[:17]}") == f"Authorization: token {MASK}"
    assert redact.line(f"{TOKEN[17:]} (continued)") == f"{MASK} (continued)"
    # Short edges stay: a word that happens to start a token is not one.
    assert redact.line("the prefix ghs") == "the prefix ghs"


def test_short_values_and_empty_redactors_change_nothing() -> None:
    assert Redactor(["", "abc", "  "]).secrets == ()
    assert not Redactor()
    assert Redactor()("anything " + TOKEN) == "anything " + TOKEN
    assert "secrets" in repr(Redactor([TOKEN])) and TOKEN not in repr(Redactor([TOKEN]))


SECRET_CHARS = string.ascii_letters + string.digits + "_-.~+/=!$&:#"


@given(
    secret=st.text(SECRET_CHARS, min_size=4, max_size=60),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
)
def test_generated_secrets_never_survive_in_any_form(secret: str, before: str, after: str) -> None:
    redact = Redactor([secret])
    for form in (
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        secret[: len(secret) // 2] + "\n" + secret[len(secret) // 2 :],
        md_text(secret),
    ):
        out = redact(before + form + after)
        assert secret not in out
        assert not redact.found(out)


@given(text=st.text(string.ascii_lowercase + " \n", max_size=200))
def test_text_without_the_secret_is_unchanged(text: str) -> None:
    redact = Redactor(["ABCD-1234-EFGH", TOKEN.upper()])
    assert redact(text) == text
    assert redact.line(text) == text
