"""Signing in, sessions, and user accounts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, EmailStr, Field

from serving.api.schemas.common import Patch, Strict
from storage.tables import Access, Role


class TokenRequest(Strict):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(Strict):
    refresh_token: str = Field(min_length=16, max_length=200)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str = Field(description="Spend it once at /auth/refresh; a reused one ends the whole sign-in.")
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_expires_in: int


class PasswordChange(Strict):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=12, max_length=1024)


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    last_login_at: datetime | None
    created_at: datetime


class UserCreate(Strict):
    email: EmailStr
    full_name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str = Field(min_length=12, max_length=1024)


class UserUpdate(Patch):
    required: ClassVar[frozenset[str]] = frozenset({"full_name", "role", "is_active"})

    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    is_active: bool | None = None


class GrantIn(Strict):
    user_id: uuid.UUID
    access: Access


class GrantOut(BaseModel):
    user_id: uuid.UUID
    case_id: uuid.UUID
    access: Access
