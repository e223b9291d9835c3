"""The web page in a real Chromium against the real service: review with the two-person rule,
object-level access, reference photos with several faces, search, a scan's job page, erasure,
and what keeps the page safe (CSP, cookies, CSRF, no token in any URL)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from playwright.sync_api import expect

from serving.auth.tokens import issue_access_token
from serving.ui.web import CSP
from storage.tables import Role
from tests.helpers import eventually
from tests.serving.conftest import Service
from tests.serving.ui.conftest import Visit, fresh_copy, new_user, save_screenshot

PERSON = "deepface_id02"  # no other test of the service enrols or records this identity
INVESTIGATOR, SUPERVISOR, REPORTER = "investigator@example.org", "supervisor@example.org", "reporter@example.org"
Browse = Callable[[], Visit]


@pytest.fixture(scope="module")
def scene(service: Service, faces_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A reporter's urgent case (born 1985, accepted by a supervisor) with two dated reference photos, and a
    sighting matched to it."""
    folder = tmp_path_factory.mktemp("scene")
    photos = [fresh_copy(p, folder / p.name) for p in sorted((faces_dir / "people" / PERSON).iterdir())]
    with service.client(Role.REPORTER) as reporter:
        case = reporter.post(
            "/cases",
            json={
                "full_name": "Amani Browser",
                "date_of_birth": "1985-03-01",
                "priority": "urgent",
                "consent_biometric": True,
            },
        )
        assert case.status_code == 201, case.text
        case = case.json()
        references = []
        for photo, year in ((photos[0], 2005), (photos[1], 2012)):
            reply = reporter.post(
                f"/cases/{case['id']}/photos",
                files={"photo": (photo.name, photo.read_bytes())},
                data={"taken_at": f"{year}-06-01T12:00:00Z"},
            )
            assert reply.status_code == 201, reply.text
            references.append(reply.json())
    with service.client(Role.SUPERVISOR) as supervisor:  # accepts the reporter's case and records the consent
        accepted = supervisor.patch(f"/cases/{case['id']}", json={"status": "open", "consent_biometric": True})
        assert accepted.status_code == 200, accepted.text
    with service.client(Role.INVESTIGATOR) as api:
        held_back = {"photo": (photos[3].name, photos[3].read_bytes(), "image/jpeg")}
        eventually(
            lambda: any(
                c["case_id"] == case["id"]
                for f in api.post("/search", files=held_back).json()["faces"]
                for c in f["candidates"]
            ),
            within=10,
        )
        sighting = api.post(
            "/sightings",
            files={"photo": (photos[2].name, photos[2].read_bytes())},
            data={"taken_at": "2024-06-01T12:00:00Z"},
        ).json()
    [match_id] = [m["match_id"] for f in sighting["faces"] for m in f["matches"] if m["case_id"] == case["id"]]
    yield {"case": case, "references": references, "match_id": match_id, "held_back": photos[3]}


def test_two_reviewers_confirm_a_match_in_the_browser(
    service: Service, scene: dict[str, Any], browse: Browse, screenshots: Path
) -> None:
    match_id, number = scene["match_id"], scene["case"]["number"]
    investigator = browse()
    assert investigator.sign_in(INVESTIGATOR).url.endswith("/ui/queue")
    row = investigator.page.locator(f'tr[data-match="{match_id}"]')
    expect(row).to_contain_text(f"#{number}")
    row.get_by_role("button", name=f"Review the match for case {number}").click()
    page = investigator.page
    expect(page).to_have_url(re.compile(f"/ui/matches/{match_id}$"))
    expect(page.locator("#hold")).to_contain_text("by you until")
    widths = investigator.images_loaded()
    assert len(widths) == 2 + 2 * len(scene["references"]) and all(w > 0 for w in widths), widths
    expect(page.locator(".references")).to_contain_text("Age in photo")
    expect(page.locator(".summary")).to_contain_text("years")  # the age gap: the case has a date of birth
    save_screenshot(page, screenshots / "compare-view.png")

    page.keyboard.press("n")
    page.keyboard.type("same scar above the left eyebrow")
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    expect(page.locator('button[value="confirm"]')).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#match-status")).to_have_text("pending")
    expect(page.locator(".summary")).to_contain_text("first confirmed by you")
    expect(page.locator("table.list")).to_contain_text("same scar above the left eyebrow")
    investigator.go("/ui/queue")
    expect(page.locator(f'tr[data-match="{match_id}"]')).to_have_count(0)  # the second confirmation is another's

    supervisor = browse()
    supervisor.sign_in(SUPERVISOR)
    row = supervisor.page.locator(f'tr[data-match="{match_id}"]')
    expect(row.locator(".first-by")).to_have_text(f"reviewer {str(service.users[Role.INVESTIGATOR])[:8]}")
    save_screenshot(supervisor.page, screenshots / "review-queue.png")
    row.get_by_role("button", name=f"Review the match for case {number}").click()
    expect(supervisor.page.locator("#hold")).to_contain_text("by you until")
    supervisor.page.keyboard.press("c")
    with supervisor.page.expect_navigation():
        supervisor.page.keyboard.press("Enter")
    expect(supervisor.page.locator("#match-status")).to_have_text("confirmed")
    investigator.go(f"/ui/matches/{match_id}")
    expect(page.locator("#match-status")).to_have_text("confirmed")
    expect(page.locator("#decide")).to_have_count(0)  # reopening a confirmed match is a supervisor's

    supervisor.go("/ui/queue")
    with supervisor.page.expect_navigation():
        supervisor.page.get_by_role("button", name="Take the next match").click()
    taken = supervisor.page.url
    assert f"/ui/matches/{match_id}" not in taken and re.search(r"/ui/(matches/[0-9a-f-]+|queue\?empty=true)$", taken)
    if "/ui/matches/" in taken:  # someone else's match from another test: give it back
        expect(supervisor.page.locator("#hold")).to_contain_text("by you until")
        supervisor.page.get_by_role("button", name="Give it back").click()
        expect(supervisor.page).to_have_url(re.compile("/ui/queue$"))

    for visit in (investigator, supervisor):
        tokens = [c["value"] for c in visit.cookies().values()]
        assert tokens and not [url for url in visit.urls for token in tokens if token in url]
        assert visit.page.evaluate("document.cookie") == ""  # no script can read them
        assert visit.csp_errors == []


def test_pages_send_the_strict_policy_and_tokens_stay_in_httponly_cookies(
    service: Service, scene: dict[str, Any], browse: Browse
) -> None:
    visit = browse()
    first = visit.go("/ui/queue")
    assert first.url.endswith("/ui/sign-in?next=/ui/queue")
    headers = first.all_headers()
    assert headers["content-security-policy"] == CSP
    assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "no-referrer"
    assert visit.sign_in(INVESTIGATOR, "not the password").status == 401
    expect(visit.page.get_by_role("alert")).to_have_text("Wrong e-mail address or password.")
    visit.sign_in(INVESTIGATOR)
    cookies = visit.cookies()
    assert set(cookies) == {"sura_access", "sura_refresh"}
    for cookie in cookies.values():
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
        assert not cookie["secure"]  # plain HTTP here; behind TLS they are Secure
    crop = f"{service.url}/ui/faces/{scene['references'][0]['face_id']}/crop?kind=aligned&case_id={scene['case']['id']}"
    image = visit.page.request.get(crop)
    assert image.headers["content-type"] == "image/jpeg" and "no-store" in image.headers["cache-control"]
    assert image.headers["content-security-policy"] == CSP


def test_forms_without_the_sign_ins_csrf_token_are_refused(
    service: Service, scene: dict[str, Any], browse: Browse
) -> None:
    visit = browse()
    visit.sign_in(INVESTIGATOR)
    token = visit.page.locator('input[name="csrf"]').first.get_attribute("value")
    review = f"{service.url}/ui/matches/{scene['match_id']}/review"
    with service.client(Role.INVESTIGATOR) as api:
        before = api.get(f"/matches/{scene['match_id']}/reviews").json()
    missing = visit.page.request.post(review, form={"decision": "reject"})
    wrong = visit.page.request.post(review, form={"decision": "reject", "csrf": "0" * 64})
    foreign = visit.page.request.post(
        review, form={"decision": "reject", "csrf": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert missing.status == wrong.status == foreign.status == 403
    assert "Not allowed" in missing.text() and "Traceback" not in missing.text()
    with service.client(Role.INVESTIGATOR) as api:
        assert api.get(f"/matches/{scene['match_id']}/reviews").json() == before
    signed_out = visit.page.request.post(f"{service.url}/ui/sign-out", form={})
    assert signed_out.status == 403 and visit.go("/ui/queue").url.endswith("/ui/queue")  # still signed in


def test_an_expired_access_token_is_refreshed_and_sign_out_ends_the_sign_in(service: Service, browse: Browse) -> None:
    visit = browse()
    visit.sign_in(INVESTIGATOR)
    before = visit.cookies()
    claims = jwt.decode(before["sura_access"]["value"], options={"verify_signature": False})
    expired, _ = issue_access_token(
        user_id=uuid.UUID(claims["sub"]),
        role=Role(claims["role"]),
        session_id=uuid.UUID(claims["sid"]),
        secret=service.token_secret,
        lifetime=timedelta(seconds=-5),
    )
    visit.page.context.add_cookies([{**before["sura_access"], "value": expired}])
    assert visit.go("/ui/cases").url.endswith("/ui/cases")
    after = visit.cookies()
    assert after["sura_access"]["value"] not in (expired, before["sura_access"]["value"])
    assert after["sura_refresh"]["value"] != before["sura_refresh"]["value"]
    with visit.page.expect_navigation():
        visit.page.get_by_role("button", name="Sign out").click()
    assert visit.page.url.endswith("/ui/sign-in") and visit.cookies() == {}
    with service.client() as api:  # the whole sign-in ended, not only this browser's cookies
        assert api.post("/auth/refresh", json={"refresh_token": after["sura_refresh"]["value"]}).status_code == 401


def test_a_reporter_sees_their_own_case_and_not_anothers(
    service: Service, scene: dict[str, Any], browse: Browse
) -> None:
    case = scene["case"]
    owner = browse()
    assert owner.sign_in(REPORTER).url.endswith("/ui/cases")
    owner.page.get_by_role("link", name=f"#{case['number']}").click()
    expect(owner.page.locator("h1")).to_have_text(f"Case #{case['number']}: Amani Browser")
    widths = owner.images_loaded()
    assert len(widths) == 2 * len(scene["references"]) and all(w > 0 for w in widths)
    assert owner.page.locator("#case-matches").count() == 0  # matches are for case workers

    other = browse()
    other.sign_in(new_user(service, Role.REPORTER))
    refused = other.go(f"/ui/cases/{case['id']}")
    assert refused.status == 404 and "Amani" not in other.page.content()
    expect(other.page.locator("h1")).to_have_text("Not found")
    reason = other.page.locator("p.problem").text_content()
    assert other.go(f"/ui/cases/{uuid.uuid4()}").status == 404  # the same answer as for an unknown case
    assert other.page.locator("p.problem").text_content() == reason
    face = scene["references"][0]["face_id"]
    assert other.go(f"/ui/faces/{face}/crop?case_id={case['id']}").status == 404
    other.go("/ui/cases")
    expect(other.page.get_by_role("link", name=f"#{case['number']}")).to_have_count(0)
    assert other.csp_errors == owner.csp_errors == []


def test_a_reference_photo_with_several_faces_asks_which_face(
    service: Service, browse: Browse, faces_dir: Path, tmp_path: Path
) -> None:
    with service.client(Role.INVESTIGATOR) as api:
        case = api.post("/cases", json={"full_name": "Couple Choice", "consent_biometric": True}).json()
    photo = fresh_copy(faces_dir / "scenes" / "deepface_couple.jpg", tmp_path / "couple.jpg")
    visit = browse()
    visit.sign_in(INVESTIGATOR)
    visit.go(f"/ui/cases/{case['id']}")
    visit.page.get_by_label("Photo of the person").set_input_files(photo)
    with visit.page.expect_navigation() as asked:
        visit.page.get_by_role("button", name="Add the photo").click()
    assert asked.value.status == 422
    expect(visit.page.locator("h1")).to_have_text("Which face is the missing person?")
    widths = visit.images_loaded()
    assert len(widths) == 2 and all(w > 0 for w in widths)
    visit.page.get_by_label("Face 2", exact=False).check()
    with visit.page.expect_navigation():
        visit.page.get_by_role("button", name="Add this face").click()
    expect(visit.page.locator("#added")).to_contain_text("one of its 2 faces")
    expect(visit.page.locator("#added")).to_contain_text("other face(s) in the photo were left out")
    assert len(visit.images_loaded()) == 2 and visit.csp_errors == []
    with service.client(Role.ADMIN) as admin:
        assert admin.post(f"/cases/{case['id']}/erase", json={"reason": "opened_in_error"}).status_code == 200


def test_search_by_photo_and_by_name_find_the_case(service: Service, scene: dict[str, Any], browse: Browse) -> None:
    visit = browse()
    visit.sign_in(INVESTIGATOR)
    found = _search(visit, scene["held_back"])
    expect(found).to_contain_text(f"#{scene['case']['number']}")
    assert visit.page.locator("#results img").evaluate_all("images => images.every(i => i.naturalWidth > 0)")
    _find_by_name(visit, "Amani")
    expect(visit.page.get_by_role("link", name=f"#{scene['case']['number']}")).to_have_count(1)
    assert "Amani" not in "".join(visit.urls)  # names travel in form bodies, never in URLs


def test_a_scan_shows_its_progress_on_the_job_page(service: Service, browse: Browse) -> None:
    folder = service.scan_root / f"ui-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a photo")
    with service.client(Role.INVESTIGATOR) as api:
        job = api.post("/scans", json={"source": str(folder), "source_label": "browser test"}).json()
    visit = browse()
    visit.sign_in(INVESTIGATOR)
    visit.go("/ui/jobs")
    visit.page.get_by_role("link", name=job["id"][:8]).click()
    expect(visit.page.locator("h1")).to_contain_text("Scan job")
    expect(visit.page.locator("#job-status")).to_have_text("succeeded", timeout=120_000)  # the page refreshes itself
    expect(visit.page.locator("#job-counts")).to_contain_text("failed")
    expect(visit.page.locator("body")).to_contain_text("notes.txt")
    assert visit.page.locator("#refreshing").count() == 0 and visit.csp_errors == []


def test_an_erased_case_disappears_from_every_page(service: Service, scene: dict[str, Any], browse: Browse) -> None:
    case, match_id = scene["case"], scene["match_id"]
    with service.client(Role.ADMIN) as admin:
        assert admin.post(f"/cases/{case['id']}/erase", json={"reason": "subject_request"}).status_code == 200
    visit = browse()
    visit.sign_in(INVESTIGATOR)
    expect(visit.page.locator(f'tr[data-match="{match_id}"]')).to_have_count(0)
    assert visit.go(f"/ui/cases/{case['id']}").status == 404
    assert visit.go(f"/ui/matches/{match_id}").status == 404
    _find_by_name(visit, "Amani")
    expect(visit.page.get_by_role("link", name=f"#{case['number']}")).to_have_count(0)
    eventually(lambda: f"#{case['number']}" not in _search(visit, scene["held_back"]).inner_text(), within=10)
    owner = browse()
    owner.sign_in(REPORTER)
    expect(owner.page.get_by_role("link", name=f"#{case['number']}")).to_have_count(0)
    assert owner.go(f"/ui/cases/{case['id']}").status == 404


def test_a_childs_photo_from_the_case_page_puts_a_later_sighting_forward_flagged(
    service: Service, browse: Browse, faces_dir: Path, tmp_path: Path
) -> None:
    """The age in the photo typed on the case page; a sighting years later, under any threshold, waits in
    the queue marked "age gap" and the compare view says why."""
    with service.client(Role.SUPERVISOR) as api:
        case = api.post("/cases", json={"full_name": "Browser Child", "consent_biometric": True}).json()
    child = fresh_copy(faces_dir / "people" / "deepface_id03" / "img48.jpg", tmp_path / "child.jpg")
    later = fresh_copy(faces_dir / "people" / "fr_obama" / "examples__obama2.jpg", tmp_path / "later.jpg")
    visit = browse()
    visit.sign_in(SUPERVISOR)
    visit.go(f"/ui/cases/{case['id']}")
    visit.page.get_by_label("Photo of the person").set_input_files(child)
    visit.page.get_by_label("Taken on").fill("2010-06-01")
    visit.page.get_by_label("Age in the photo").fill("7")
    with visit.page.expect_navigation():
        visit.page.get_by_role("button", name="Add the photo").click()
    expect(visit.page.locator("#added")).to_be_visible()
    with service.client(Role.INVESTIGATOR) as api:
        reply = eventually(lambda: _age_gap_sighting(api, later, case["id"]), within=10)
    visit.go("/ui/queue")
    row = visit.page.locator(f'tr[data-match="{reply}"]')
    expect(row).to_contain_text("age gap")
    row.get_by_role("button", name=f"Review the match for case {case['number']}").click()
    expect(visit.page.locator("#age-gap-notice")).to_contain_text("a child of 7")
    assert visit.csp_errors == []
    with service.client(Role.SUPERVISOR) as api:
        assert api.patch(f"/cases/{case['id']}", json={"status": "closed"}).status_code == 200


def _age_gap_sighting(api: Any, photo: Path, case_id: str) -> str | None:
    """The flagged match a sighting of ``photo`` made for the case (the photo is stored once: ask once it will)."""
    found = api.post("/search", files={"photo": (photo.name, photo.read_bytes())}).json()
    if not any(c["case_id"] == case_id and c["age_gap"] for f in found["faces"] for c in f["candidates"]):
        return None
    sighting = api.post("/sightings", files={"photo": (photo.name, photo.read_bytes())}).json()
    [match] = [m for f in sighting["faces"] for m in f["matches"] if m["case_id"] == case_id]
    assert match["age_gap"]
    return str(match["match_id"])


def _search(visit: Visit, photo: Path) -> Any:
    visit.go("/ui/search")
    visit.page.get_by_label("Photo").set_input_files(photo)
    with visit.page.expect_navigation():
        visit.page.get_by_role("button", name="Search").click()
    return visit.page.locator("#results")


def _find_by_name(visit: Visit, words: str) -> None:
    visit.go("/ui/cases")
    visit.page.get_by_label("Name or alias").fill(words)
    with visit.page.expect_navigation():
        visit.page.get_by_role("button", name="Find").click()
