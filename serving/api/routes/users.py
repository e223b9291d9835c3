"""The signed-in user's profile and password; user accounts for administrators."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from serving.api.deps import Session, State, errors, permitted
from serving.api.schemas.common import Page, page_of
from serving.api.schemas.people import PasswordChange, UserCreate, UserOut, UserUpdate
from serving.auth.passwords import hash_password
from serving.auth.policy import Action
from storage.audit import AuditLog
from storage.repositories.users import UserRepository
from storage.tables import Role, User

router = APIRouter(prefix="/users", tags=["users"])
Admin = Annotated[User, permitted(Action.MANAGE_USERS)]


@router.get("/me", responses=errors(401))
async def me(signed: Session) -> UserOut:
    """The signed-in user."""
    return UserOut.model_validate(signed.user, from_attributes=True)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 422))
async def change_password(body: PasswordChange, signed: Session, state: State) -> None:
    """Set a new password; every other sign-in session of the user ends."""
    await asyncio.to_thread(
        state.sessions.change_password,
        signed.user,
        current=body.current_password,
        new=body.new_password,
        keep_session=signed.claims.session_id,
    )
    state.users.forget(signed.user.id)


@router.get("", responses=errors(401, 403, 422))
async def list_users(
    admin: Admin,
    state: State,
    role: Role | None = None,
    active: bool | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[UserOut]:
    """Accounts, by e-mail address."""
    with state.db.transaction() as session:
        found = UserRepository(session).find(role=role, active=active, page=page, page_size=page_size)
        return page_of(UserOut, found)


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(401, 403, 409, 422))
async def create_user(body: UserCreate, admin: Admin, state: State) -> UserOut:
    """A new account with an initial password the user should change."""
    password_hash = await asyncio.to_thread(hash_password, body.password)
    with state.db.transaction() as session:
        user = UserRepository(session).create(
            email=body.email, full_name=body.full_name, role=body.role, password_hash=password_hash
        )
        AuditLog(session).append(
            actor=f"user:{admin.id}",
            action="user.create",
            target_type="user",
            target_id=user.id,
            details={"role": body.role.value},
        )
        session.flush()
        session.refresh(user)
        return UserOut.model_validate(user, from_attributes=True)


@router.patch("/{user_id}", responses=errors(401, 403, 404, 422))
async def update_user(user_id: uuid.UUID, body: UserUpdate, admin: Admin, state: State) -> UserOut:
    """Rename, change the role of, disable or re-enable an account."""
    changes = body.model_dump(exclude_unset=True)
    with state.db.transaction() as session:
        user = UserRepository(session).get(user_id=user_id)
        for name, value in changes.items():
            setattr(user, name, value)
        AuditLog(session).append(
            actor=f"user:{admin.id}",
            action="user.update",
            target_type="user",
            target_id=user_id,
            details={"fields": sorted(changes)},
        )
        session.flush()
        session.refresh(user)
        result = UserOut.model_validate(user, from_attributes=True)
    state.users.forget(user_id)
    return result
