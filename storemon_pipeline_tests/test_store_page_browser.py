"""A real browser on a real server: headless Chromium opens a sample store's page served by uvicorn.

The page must draw the week from this server alone (no request leaves it), and the screenshot
must show it: the status colours are there, one row per local date. CI installs Chromium
(.ci/run) and sets CI: there this test never skips.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from PIL import Image

from storemon_pipeline.api import ApiSettings, create_app
from storemon_pipeline.cli import main as storemon
from storemon_pipeline.store_pages.paths import store_page_path
from storemon_pipeline_tests.conftest import SAMPLE_DATA_DIR

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
SAMPLE_AS_OF = "2023-03-14T12:00:00Z"
# A sample New York store with late-night hours into the spring-forward Sunday (docs/store-timeline.png).
SAMPLE_STORE = "3099654896273494610"
ACTIVE_RGB = (0x00, 0x9E, 0x73)


def _chromium() -> Path:
    if not CHROMIUM.exists():
        if os.getenv("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); CI installs it")
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served_sample(tmp_path):
    """uvicorn serving the API on the sample's report: its base URL."""
    database_url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    assert storemon(["report", "--data-dir", str(SAMPLE_DATA_DIR), "--out", str(tmp_path / "report.csv"),
                     "--database-url", database_url, "--as-of", SAMPLE_AS_OF]) == 0
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(ApiSettings(database_url=database_url)), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def screenshot_store_page(base_url: str, store_id: str, as_of: str, out: Path | None = None) -> tuple[bytes, list]:
    """The page's full-length screenshot (PNG bytes) and every URL the browser requested."""
    from playwright.sync_api import sync_playwright

    requested = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(_chromium()), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("request", lambda request: requested.append(request.url))
            response = page.goto(base_url + store_page_path(store_id, as_of))
            assert response is not None and response.status == 200
            page.wait_for_load_state("networkidle")
            assert page.locator("svg[role=img] > g").count() == 8  # eight local dates in the week
            assert page.get_by_role("heading", level=1).inner_text() == f"Store {store_id}"
            png = page.screenshot(full_page=True, path=str(out) if out else None)
        finally:
            browser.close()
    return png, requested


def test_headless_chromium_shows_the_week_of_a_sample_store(served_sample, tmp_path):
    png, requested = screenshot_store_page(served_sample, SAMPLE_STORE, SAMPLE_AS_OF, tmp_path / "store.png")
    assert requested and all(url.startswith(served_sample) for url in requested), requested
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width >= 1000 and image.height > 900
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 20)}
    assert ACTIVE_RGB in colours, "no active segment was drawn"
