"""Where a webhook may point, checked when the preference is saved (and again at every delivery)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from serving.services.notifications import NotificationService
from storage.database import Database
from storage.errors import InvalidArgumentError
from storage.tables import Channel, NotificationKind, Role, User

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize(
    "target",
    [
        "https://user:secret@hooks.example.org/sura",
        "https:///no-host",
        "http://",
        "gopher://hooks.example.org/",
        "https://hooks.example.org:99999/",
        "ftp://hooks.example.org/x",
    ],
)
def test_a_webhook_target_must_be_a_plain_http_url(db: Database, make_user: Callable[..., User], target: str) -> None:
    service, user = NotificationService(db, "s" * 40), make_user(Role.INVESTIGATOR)
    with pytest.raises(InvalidArgumentError, match="webhook"):
        service.set_preference(
            user, kind=NotificationKind.MATCH_FOUND, channel=Channel.WEBHOOK, enabled=True, target=target
        )


def test_a_good_target_is_kept(db: Database, make_user: Callable[..., User]) -> None:
    service, user = NotificationService(db, "s" * 40), make_user(Role.INVESTIGATOR)
    saved = service.set_preference(
        user,
        kind=NotificationKind.MATCH_FOUND,
        channel=Channel.WEBHOOK,
        enabled=True,
        target="https://hooks.example.org/sura",
    )
    assert saved.target == "https://hooks.example.org/sura" and saved.signing_secret
