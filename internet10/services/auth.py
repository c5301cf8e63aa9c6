"""Who is calling, and what may they do. Staff are users with role grants; attendees hold a
personal-link token bound to one registration."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.errors import Forbidden, NotAuthenticated, NotFound, ValidationFailed
from internet10.models import ApiToken, Chapter, Event, Role, RoleGrant, User
from internet10.security import hash_password, hash_token, new_token, verify_password
from internet10.services import outbox

LOGIN_LINK_TTL = dt.timedelta(hours=24)
RESET_LINK_TTL = dt.timedelta(hours=1)
RESET_JOB = "staff.password_reset"
PASSWORD_MIN, PASSWORD_MAX = 12, 1024


@dataclass(frozen=True)
class Grant:
    role: Role
    chapter_id: int | None = None
    event_id: int | None = None


@dataclass(frozen=True)
class Principal:
    """A signed-in staff member. Anonymous callers are ``None`` wherever a principal is taken."""

    user_id: int
    email: str
    name: str
    grants: frozenset[Grant]

    @property
    def is_organiser(self) -> bool:
        return any(g.role is Role.ORGANISER for g in self.grants)

    def delegate_chapters(self) -> frozenset[int]:
        return frozenset(
            g.chapter_id for g in self.grants if g.role is Role.DELEGATE and g.chapter_id
        )

    def moderates(self, event_id: int) -> bool:
        return self.is_organiser or any(
            g.role is Role.MODERATOR and g.event_id == event_id for g in self.grants
        )

    def coordinates(self, hub_id: int) -> bool:
        return self.is_organiser or any(
            g.role is Role.HUB_COORDINATOR and g.event_id == hub_id for g in self.grants
        )


def require_organiser(principal: Principal | None) -> Principal:
    if principal is None:
        raise NotAuthenticated("Sign in or send an API token.")
    if not principal.is_organiser:
        raise Forbidden("Only organisers may do this.")
    return principal


def _principal(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        email=user.email,
        name=user.name,
        grants=frozenset(Grant(Role(g.role), g.chapter_id, g.event_id) for g in user.grants),
    )


def normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email):
        raise ValidationFailed("Not a valid e-mail address.", field="email")
    return email


async def principal_for_user(db: AsyncSession, user_id: int) -> Principal | None:
    user = await db.get(User, user_id)
    if user is None or not user.is_active:
        return None
    return _principal(user)


async def authenticate_token(db: AsyncSession, token: str, *, now: dt.datetime) -> Principal:
    row = await db.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token), ApiToken.kind == "api")
    )
    if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
        raise NotAuthenticated("The API token is unknown, expired or revoked.")
    principal = await principal_for_user(db, row.user_id)
    if principal is None:
        raise NotAuthenticated("The account behind this token is disabled.")
    return principal


async def authenticate_password(db: AsyncSession, email: str, password: str) -> Principal:
    user = await db.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        if user is None:
            verify_password(None, password)
        raise NotAuthenticated("Wrong e-mail or password.")
    return _principal(user)


async def consume_login_link(db: AsyncSession, token: str, *, now: dt.datetime) -> Principal:
    """One-time login links (printed by the demo, mailed by password reset): valid once, 24 h."""
    row = await db.scalar(
        select(ApiToken)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.kind == "login")
        .with_for_update()
    )
    if (
        row is None
        or row.used_at is not None
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
    ):
        raise NotAuthenticated("This login link is unknown, used or expired.")
    row.used_at = now
    principal = await principal_for_user(db, row.user_id)
    if principal is None:
        raise NotAuthenticated("This account is disabled.")
    return principal


async def issue_token(
    db: AsyncSession, user_id: int, *, kind: str, now: dt.datetime, label: str = ""
) -> str:
    token = new_token()
    db.add(
        ApiToken(
            user_id=user_id,
            token_hash=hash_token(token),
            kind=kind,
            label=label,
            created_at=now,
            expires_at=now + LOGIN_LINK_TTL if kind == "login" else None,
        )
    )
    await db.flush()
    return token


async def request_password_reset(
    db: AsyncSession, email: str, *, language: str, now: dt.datetime
) -> None:
    """Queue a mail with a one-time reset link when ``email`` is an active staff member's; the
    caller says the same thing either way (nobody learns who has an account). The link itself is
    issued by the job (no token ever sits in a job's payload); asking again within the same
    minute queues nothing more."""
    email = normalise_email(email)
    user = await db.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active:
        return
    await outbox.enqueue(
        db,
        RESET_JOB,
        {"user_id": user.id, "language": language},
        now=now,
        dedupe_key=f"{RESET_JOB}:{user.id}:{now:%Y-%m-%dT%H:%M}",
        max_attempts=5,
    )


@dataclass(frozen=True)
class ResetLink:
    email: str
    name: str
    token: str
    token_id: int


async def issue_reset_link(db: AsyncSession, user_id: int, *, now: dt.datetime) -> ResetLink | None:
    """A fresh one-time password reset link (1 h) for an active user; None for anyone else."""
    user = await db.get(User, user_id)
    if user is None or not user.is_active:
        return None
    token = new_token()
    row = ApiToken(
        user_id=user.id,
        token_hash=hash_token(token),
        kind="reset",
        label="password reset",
        created_at=now,
        expires_at=now + RESET_LINK_TTL,
    )
    db.add(row)
    await db.flush()
    return ResetLink(user.email, user.name, token, row.id)


async def _live_reset_token(db: AsyncSession, token: str, *, now: dt.datetime) -> ApiToken:
    row = await db.scalar(
        select(ApiToken)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.kind == "reset")
        .with_for_update()
    )
    if (
        row is None
        or row.used_at is not None
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
    ):
        raise NotAuthenticated("This password reset link is unknown, used or expired.")
    return row


async def check_reset_link(db: AsyncSession, token: str, *, now: dt.datetime) -> None:
    """Raises :class:`NotAuthenticated` unless the link can still set a password."""
    await _live_reset_token(db, token, now=now)


async def reset_password(
    db: AsyncSession, token: str, password: str, *, now: dt.datetime
) -> Principal:
    """Set a new password with a reset link: the link is used up, and so is every other reset
    link of that account. Returns who is now signed in."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ValidationFailed(
            f"A password has {PASSWORD_MIN} to {PASSWORD_MAX} characters.", field="password"
        )
    row = await _live_reset_token(db, token, now=now)
    user = await db.get(User, row.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("This account is disabled.")
    user.password_hash = hash_password(password)
    row.used_at = now
    others = await db.scalars(
        select(ApiToken).where(
            ApiToken.user_id == user.id,
            ApiToken.kind == "reset",
            ApiToken.used_at.is_(None),
            ApiToken.revoked_at.is_(None),
            ApiToken.id != row.id,
        )
    )
    for other in others:
        other.revoked_at = now
    return _principal(user)


@dataclass(frozen=True)
class CreatedUser:
    user_id: int
    email: str
    api_token: str


async def create_user(
    db: AsyncSession,
    *,
    email: str,
    role: Role,
    now: dt.datetime,
    name: str = "",
    password: str | None = None,
    chapter_code: str | None = None,
    event_id: int | None = None,
) -> CreatedUser:
    """Create (or extend) a staff account with one role grant and a fresh API token."""
    email = normalise_email(email)
    chapter_id: int | None = None
    if role is Role.DELEGATE:
        if not chapter_code:
            raise ValidationFailed(
                "A delegate is bound to one chapter: give --chapter.", field="chapter"
            )
        chapter = await db.scalar(select(Chapter).where(Chapter.code == chapter_code.upper()))
        if chapter is None:
            raise NotFound(f"No chapter with code {chapter_code!r}.", field="chapter")
        chapter_id = chapter.id
    if role in (Role.MODERATOR, Role.HUB_COORDINATOR):
        if event_id is None:
            raise ValidationFailed(
                f"A {role.value} is bound to an event: give --event.", field="event"
            )
        event = await db.get(Event, event_id)
        if event is None:
            raise NotFound(f"No event with id {event_id}.", field="event")
        if role is Role.HUB_COORDINATOR and event.kind != "hub":
            raise ValidationFailed(f"Event {event_id} is not a hub.", field="event")
    user = await db.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, name=name, language="fr", is_active=True, created_at=now)
        db.add(user)
        await db.flush()
    if password:
        user.password_hash = hash_password(password)
    exists = await db.scalar(
        select(RoleGrant).where(
            RoleGrant.user_id == user.id,
            RoleGrant.role == role.value,
            RoleGrant.chapter_id.is_(chapter_id)
            if chapter_id is None
            else RoleGrant.chapter_id == chapter_id,
            RoleGrant.event_id.is_(event_id)
            if event_id is None
            else RoleGrant.event_id == event_id,
        )
    )
    if exists is None:
        db.add(
            RoleGrant(
                user_id=user.id,
                role=role.value,
                chapter_id=chapter_id,
                event_id=event_id,
                created_at=now,
            )
        )
    token = await issue_token(db, user.id, kind="api", now=now, label="cli")
    return CreatedUser(user_id=user.id, email=email, api_token=token)
