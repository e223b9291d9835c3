"""The signed-in user's profile and password; user accounts for administrators."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from serving.api.deps import PageNumber, SignedInUser, State, errors, permitted
from serving.api.schemas.common import Page, page_of
from serving.api.schemas.people import PasswordChange, UserCreate, UserOut, UserUpdate
from serving.auth.policy import Action
from storage.tables import Role, User

router = APIRouter(prefix="/users", tags=["users"])
Admin = Annotated[User, permitted(Action.MANAGE_USERS)]


@router.get("/me", responses=errors(401))
async def me(signed: SignedInUser) -> UserOut:
    """The signed-in user."""
    return UserOut.model_validate(signed.user, from_attributes=True)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 422))
async def change_password(body: PasswordChange, signed: SignedInUser, state: State) -> None:
    """Set a new password; every other sign-in of the user ends."""
    await asyncio.to_thread(
        state.signins.change_password,
        signed.user,
        current=body.current_password,
        new=body.new_password,
        keep_signin=signed.claims.session_id,
    )
    state.active_users.forget(signed.user.id)


@router.get("", responses=errors(401, 403, 422))
async def list_users(
    admin: Admin,
    state: State,
    role: Role | None = None,
    active: bool | None = None,
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[UserOut]:
    """Accounts, by e-mail address."""
    found = await asyncio.to_thread(state.users.find, admin, role=role, active=active, page=page, page_size=page_size)
    return page_of(UserOut, found)


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(401, 403, 409, 422))
async def create_user(body: UserCreate, admin: Admin, state: State) -> UserOut:
    """A new account with an initial password the user should change."""
    user = await asyncio.to_thread(
        state.users.create, admin, email=body.email, full_name=body.full_name, role=body.role, password=body.password
    )
    return UserOut.model_validate(user, from_attributes=True)


@router.patch("/{user_id}", responses=errors(401, 403, 404, 422))
async def update_user(user_id: uuid.UUID, body: UserUpdate, admin: Admin, state: State) -> UserOut:
    """Rename, change the role of, disable or re-enable an account."""
    user = await asyncio.to_thread(state.users.update, admin, user_id, body.model_dump(exclude_unset=True))
    return UserOut.model_validate(user, from_attributes=True)
