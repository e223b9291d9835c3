"""A real Chromium (Debian's, driven by Playwright) against the session's real service.

Each ``Visit`` is one person's browser (its own context, so its own cookies), recording every URL
it requested and every Content-Security-Policy complaint it logged.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from storage.tables import Role
from tests.serving.conftest import PASSWORD, Service

REPO = Path(__file__).resolve().parents[3]
VIEWPORT = {"width": 1000, "height": 700}
SCREENSHOT_LIMIT = 150_000


@dataclass
class Visit:
    page: Any  # playwright.sync_api.Page
    base: str
    urls: list[str] = field(default_factory=list)
    csp_errors: list[str] = field(default_factory=list)

    def go(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        assert response is not None
        return response

    def sign_in(self, email: str, password: str = PASSWORD) -> Any:
        self.go("/ui/sign-in")
        self.page.get_by_label("E-mail address").fill(email)
        self.page.get_by_label("Password").fill(password)
        with self.page.expect_navigation() as navigation:
            self.page.get_by_role("button", name="Sign in").click()
        return navigation.value

    def cookies(self) -> dict[str, dict[str, Any]]:
        return {cookie["name"]: cookie for cookie in self.page.context.cookies()}

    def images_loaded(self) -> list[int]:
        """The natural width of every image of the page, once each has finished loading."""
        self.page.wait_for_load_state("load")  # after every image (wait_for_function would need eval: the CSP says no)
        return self.page.eval_on_selector_all("img", "images => images.map(image => image.naturalWidth)")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


@pytest.fixture()
def browse(chromium: Any, service: Service) -> Iterator[Callable[[], Visit]]:
    """Open a fresh browser context: one per person."""
    contexts = []

    def open_visit() -> Visit:
        context = chromium.new_context(viewport=VIEWPORT, locale="en-GB")
        context.set_default_timeout(20_000)
        contexts.append(context)
        visit = Visit(page=context.new_page(), base=service.url)
        visit.page.on("request", lambda request: visit.urls.append(request.url))
        visit.page.on(
            "console",
            lambda message: (
                visit.csp_errors.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        return visit

    yield open_visit
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/screenshots with SURA_SCREENSHOTS=1 (to refresh the committed ones), a temporary folder otherwise."""
    if os.environ.get("SURA_SCREENSHOTS") == "1":
        folder = REPO / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("screenshots")


def save_screenshot(page: Any, target: Path) -> Path:
    """The viewport as a PNG, reduced to a palette when needed to stay small enough to commit."""
    data = page.screenshot(type="png")
    if len(data) > SCREENSHOT_LIMIT:
        buffer = io.BytesIO()
        Image.open(io.BytesIO(data)).convert("RGB").quantize(colors=128).save(buffer, format="PNG", optimize=True)
        data = buffer.getvalue()
    target.write_bytes(data)
    assert len(data) <= SCREENSHOT_LIMIT, (target.name, len(data))
    return target


def fresh_copy(photo: Path, target: Path) -> Path:
    """The photo re-encoded: content no other test of the session has stored."""
    buffer = io.BytesIO()
    Image.open(photo).convert("RGB").save(buffer, format="JPEG", quality=93)
    target.write_bytes(buffer.getvalue())
    return target


def new_user(service: Service, role: Role) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@browser.example.org"
    with service.client(Role.ADMIN) as api:
        reply = api.post("/users", json={"email": email, "full_name": "Browser", "role": role, "password": PASSWORD})
    assert reply.status_code == 201, reply.text
    return email
