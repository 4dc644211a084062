"""A real browser for the tests: Debian's Chromium, headless, on a page it loads by URL.

Shared by the store's page test (tests/store/test_pages.py) and the trend's Mermaid chart
(tests/report/test_mermaid_browser.py). Each call is one Chromium process; the caller skips
when `chromium()` finds none (.ci/run installs it)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

# Virtual time Chromium grants a page's scripts before it takes the DOM or the picture:
# time stands still while nothing is pending, so this is a bound, not a wait.
SCRIPT_BUDGET_MS = 20_000


def chromium() -> str | None:
    return next((p for n in ("chromium", "chromium-browser") if (p := shutil.which(n))), None)


def png_pixels(data: bytes) -> tuple[int, int, set[bytes]]:
    """Width, height and the distinct pixel values of an 8-bit RGB(A) PNG (what Chromium
    writes): enough of a decoder to tell a rendered page from a blank one."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks += body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6), (depth, color)
    size = 3 if color == 2 else 4
    raw, stride = zlib.decompress(chunks), width * size
    previous, colours = bytearray(stride), set()
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            a = line[x - size] if x >= size else 0
            b = previous[x]
            c = previous[x - size] if x >= size else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(bytes(line[i : i + size]) for i in range(0, stride, size))
        previous = line
    return width, height, colours


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def screenshot(
    browser: str, url: str, out: Path, *, size: str = "1280,900", scripts: bool = False
) -> bytes:
    """A picture of the page at `url` in a window of `size`, written to `out`; `scripts`:
    after the page's scripts have had their time (`SCRIPT_BUDGET_MS`)."""
    budget = [f"--virtual-time-budget={SCRIPT_BUDGET_MS}"] if scripts else []
    _run(
        browser,
        out.parent / "profile",
        *budget,
        f"--screenshot={out}",
        f"--window-size={size}",
        url,
    )
    return out.read_bytes()


def dom(browser: str, url: str, profile: Path) -> str:
    """The page's DOM as HTML once its scripts have had their time."""
    proc = _run(browser, profile, f"--virtual-time-budget={SCRIPT_BUDGET_MS}", "--dump-dom", url)
    return proc.stdout.decode("utf-8", "replace")
