"""The kiosk page in a real headless Chromium (Debian's `chromium`) driven by Playwright."""
from __future__ import annotations

from pathlib import Path

import pytest
from serve_helpers import request

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.needs_data,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not found (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                                   "(pip install playwright; the system chromium is used)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    p = browser.new_page()
    yield p
    p.close()


def test_upload_shows_the_labels(page, live_server, photos):
    _, expected, _ = request(live_server, "POST", "/predict", photos[3].read_bytes())
    page.goto(f"http://{live_server}/")
    page.wait_for_selector("body[data-ready='1']")
    assert "msfan" in page.inner_text("#model")
    page.set_input_files("#file", str(photos[3]))
    cat = page.wait_for_selector("#result .category", timeout=30_000)
    assert cat.get_attribute("data-label") == expected["category"]["label"]
    top = page.locator("#result .top-item .name").all_inner_texts()
    assert top == [name for name, _ in expected["category"]["top"]]
    shown = page.locator("#result .attribute").all_inner_texts()
    assert shown == [a for names in expected["attributes"].values() for a in names]
    assert page.get_attribute("#result-img", "src").startswith("data:image/jpeg;base64,")
    assert page.is_visible("#result-img") and not page.is_visible("#error")


def test_bad_upload_shows_the_error(page, live_server, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not really a photo")
    page.goto(f"http://{live_server}/")
    page.wait_for_selector("body[data-ready='1']")
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert "could not be decoded" in page.inner_text("#error")


def test_live_camera_with_labels(page, live_server):
    page.goto(f"http://{live_server}/")
    page.wait_for_selector("#live:not([hidden])")
    page.wait_for_selector("#live-result .category", timeout=30_000)
    page.wait_for_function("document.getElementById('live-img').naturalWidth > 0", timeout=30_000)
    assert page.evaluate("document.getElementById('live-img').naturalWidth") == 160
    assert "fps" in page.inner_text("#live-status")
