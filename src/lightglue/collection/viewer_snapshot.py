"""Screenshots of the viewer's pages with headless Chromium, offline, and the requests they made.

:func:`screenshot` renders a page (WebGL through SwiftShader, Chromium's software
renderer, so no GPU or display is needed) with every network path closed: a dead proxy,
a host resolver that resolves nothing, background services off. With ``netlog`` it also
records Chromium's network log, from which :func:`page_requests` lists the remote URLs the
page itself asked for (the browser's own background requests are told apart by their
initiator).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

OFFLINE_FLAGS = (
    "--proxy-server=127.0.0.1:9",  # nothing listens on the discard port
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
)
WEBGL_FLAGS = ("--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader")


def find_chromium() -> str | None:
    """Path of a Chromium (or Chrome) executable on ``PATH``, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(
    page: str | os.PathLike,
    png: str | os.PathLike,
    width: int = 1200,
    height: int = 800,
    budget_ms: int = 5000,
    netlog: str | os.PathLike | None = None,
    chromium: str | None = None,
    timeout_s: float = 120.0,
) -> Path:
    """Render ``page`` (a local HTML file) in headless Chromium, offline, to ``png``.

    Args:
        page: the HTML file.
        png: output screenshot, ``width`` x ``height`` pixels.
        width, height: window size, pixels.
        budget_ms: virtual time given to the page's scripts before the picture is taken, ms.
        netlog: where to write Chromium's network log (JSON), or None.
        chromium: the executable (default: :func:`find_chromium`).
        timeout_s: wall-clock limit, seconds.

    Raises:
        FileNotFoundError: no page, or no Chromium.
        RuntimeError: Chromium failed or wrote no picture.
    """
    page, png = Path(page).resolve(), Path(png)
    if not page.is_file():
        raise FileNotFoundError(f"No page at {page}.")
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError(f"No Chromium found (looked for {', '.join(CHROMIUM_NAMES)}): install Chromium.")
    png.parent.mkdir(parents=True, exist_ok=True)
    tmp = png.with_name(f".{png.name}.{os.getpid()}.tmp.png")
    with tempfile.TemporaryDirectory(prefix="lightglue-chromium-") as profile:
        args = [
            chromium, "--headless", f"--user-data-dir={profile}", *OFFLINE_FLAGS, *WEBGL_FLAGS,
            "--hide-scrollbars", f"--window-size={width},{height}", f"--virtual-time-budget={budget_ms}",
            f"--screenshot={tmp}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        if netlog is not None:
            args.append(f"--log-net-log={Path(netlog).resolve()}")
        args.append(page.as_uri())
        try:
            result = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as err:
            tmp.unlink(missing_ok=True)
            raise RuntimeError(f"Chromium did not finish within {timeout_s} s.") from err
    if result.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"Chromium failed (exit {result.returncode}): {result.stderr[-2000:]}")
    os.replace(tmp, png)
    return png


def page_requests(netlog: str | os.PathLike) -> list[str]:
    """Remote (``http``/``https``) URLs that the page asked for, from a Chromium network log.

    A request started by the page has the page's origin as initiator (``"null"`` for a
    ``file://`` page); the browser's own background requests have ``"not an origin"``.
    """
    log = json.loads(Path(netlog).read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params", {})
        url = params.get("url", "")
        if event["type"] == start and url.startswith(("http://", "https://")):
            if params.get("initiator") != "not an origin":
                urls.append(url)
    return sorted(set(urls))
