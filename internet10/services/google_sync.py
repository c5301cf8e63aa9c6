"""Telling Google about a change: which of Google Calendar and YouTube Live the deployment uses,
and the one call the services make when what an event shows changed.

``event_changed``: publishing, starting, ending and cancelling an event
(``events.change_status``), changing its title, description, times or venue
(``events.update_event``). ``programme_changed``: booking, editing and approving a slot
(``booking``), importing a hub's sessions (``hubs``), and every programme change that is mailed
to people (the ``programme.changed`` job calls it: moves, swaps, plans, cancelled bookings,
agenda changes)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from internet10.models import Event
from internet10.services import google_calendar, livestreams
from internet10.settings import Settings


@dataclass(frozen=True)
class GooglePolicy:
    """What the deployment publishes to Google: the programme on Google Calendar
    (``INTERNET10_GOOGLE_CREDENTIALS`` and ``INTERNET10_GOOGLE_CALENDAR_ID``), livestreams on
    YouTube (``INTERNET10_YOUTUBE_TOKEN_FILE``)."""

    calendar: bool = False
    livestream: bool = False


NO_GOOGLE = GooglePolicy()


def policy_for(settings: Settings) -> GooglePolicy:
    return GooglePolicy(
        calendar=settings.google_calendar_configured, livestream=settings.youtube_configured
    )


async def event_changed(
    db: AsyncSession, event: Event, google: GooglePolicy, *, now: dt.datetime
) -> None:
    """The event itself changed (status, title, times...): queue the calendar's and the
    broadcast's update, inside the transaction that changed it, after ``event.sequence`` rose.
    Repeating it for the same sequence queues nothing more."""
    await programme_changed(db, event, google, now=now)
    if google.livestream:
        await livestreams.request_sync(db, event, now=now)


async def programme_changed(
    db: AsyncSession, event: Event, google: GooglePolicy, *, now: dt.datetime
) -> None:
    """Only its programme changed (slots, bookings, hub sessions): the calendar's update."""
    if google.calendar:
        await google_calendar.request_sync(db, event, now=now)
