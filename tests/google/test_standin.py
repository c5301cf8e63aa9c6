"""The stand-in itself, over raw HTTP: what Google checks and how it answers, where the adapters
never go (they send only well-formed requests)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from google.auth import crypt, jwt

from integrations.google import CALENDAR_SCOPE, YOUTUBE_SCOPE
from integrations.google.standin import GOOGLE_TOKEN_AUDIENCE, JWT_BEARER, GoogleStandIn
from tests.google.conftest import CALENDAR_ID

pytestmark = pytest.mark.integration

EVENT = {
    "summary": "Internet10",
    "start": {"dateTime": "2031-04-02T13:00:00+01:00", "timeZone": "Africa/Porto-Novo"},
    "end": {"dateTime": "2031-04-02T14:00:00+01:00", "timeZone": "Africa/Porto-Novo"},
}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def assertion(standin: GoogleStandIn, **claims: Any) -> str:
    info = standin.service_account_info()
    now = int(time.time())
    payload = {
        "iss": info["client_email"],
        "aud": GOOGLE_TOKEN_AUDIENCE,
        "scope": CALENDAR_SCOPE,
        "iat": now,
        "exp": now + 3600,
    } | claims
    # google-auth leaves both unannotated
    signer = crypt.RSASigner.from_service_account_info(info)  # type: ignore[no-untyped-call]
    claims_sent = {k: v for k, v in payload.items() if v is not None}
    token: bytes = jwt.encode(signer, claims_sent)  # type: ignore[no-untyped-call]
    return token.decode()


async def token_answer(
    http: aiohttp.ClientSession, standin: GoogleStandIn, form: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    async with http.post(standin.token_uri, data=form) as response:
        return response.status, await response.json()


async def bearer(http: aiohttp.ClientSession, standin: GoogleStandIn, scope: str) -> dict[str, str]:
    status, body = await token_answer(
        http,
        standin,
        {"grant_type": JWT_BEARER, "assertion": assertion(standin, scope=scope)},
    )
    assert status == 200
    return {"Authorization": f"Bearer {body['access_token']}"}


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: dict[str, str],
    body: Any = None,
    **params: str,
) -> tuple[int, Any]:
    async with http.request(method, url, headers=headers, json=body, params=params) as response:
        return response.status, (await response.json() if response.status != 204 else None)


async def test_jwt_grant_answers_like_google(
    http: aiohttp.ClientSession, standin: GoogleStandIn
) -> None:
    status, body = await token_answer(
        http, standin, {"grant_type": JWT_BEARER, "assertion": assertion(standin)}
    )

    assert status == 200
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert (body["expires_in"], body["token_type"]) == (3599, "Bearer")


@pytest.mark.parametrize(
    ("claims", "error", "description"),
    [
        ({"aud": "https://example.org/token"}, "invalid_grant", "Failed audience check"),
        ({"iat": 1_000_000_000, "exp": 1_000_003_600}, "invalid_grant", "short-lived token"),
        ({"exp": int(time.time()) + 7200}, "invalid_grant", "short-lived token"),
        ({"scope": None}, "invalid_scope", "Invalid OAuth scope"),
        ({"scope": "calendar"}, "invalid_scope", "Invalid OAuth scope"),
        ({"iss": "someone@else.iam.gserviceaccount.com"}, "invalid_grant", "Signature"),
        ({"sub": "organiser@example.org"}, "unauthorized_client", "unauthorized"),
    ],
)
async def test_jwt_grant_checks_the_claims(
    http: aiohttp.ClientSession,
    standin: GoogleStandIn,
    claims: dict[str, Any],
    error: str,
    description: str,
) -> None:
    status, body = await token_answer(
        http, standin, {"grant_type": JWT_BEARER, "assertion": assertion(standin, **claims)}
    )

    assert status in (400, 401)
    assert body["error"] == error
    assert description in body["error_description"]


async def test_jwt_grant_checks_the_signature(
    http: aiohttp.ClientSession, standin: GoogleStandIn
) -> None:
    header, payload, signature = assertion(standin).split(".")
    tampered = assertion(standin, scope=YOUTUBE_SCOPE).split(".")[1]

    status, body = await token_answer(
        http,
        standin,
        {"grant_type": JWT_BEARER, "assertion": f"{header}.{tampered}.{signature}"},
    )

    assert (status, body) == (
        400,
        {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
    )
    assert payload != tampered


async def test_unknown_grant_and_client_are_refused(
    http: aiohttp.ClientSession, standin: GoogleStandIn
) -> None:
    assert await token_answer(http, standin, {"grant_type": "password"}) == (
        400,
        {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: password"},
    )
    assert await token_answer(
        http,
        standin,
        {"grant_type": "refresh_token", "client_id": standin.client_id, "client_secret": "no"},
    ) == (401, {"error": "invalid_client", "error_description": "The OAuth client was not found."})


async def test_api_without_a_token_is_401_in_googles_shape(
    http: aiohttp.ClientSession, standin: GoogleStandIn
) -> None:
    status, body = await call(http, "GET", f"{standin.calendar_endpoint}calendars/x/events", {})

    assert status == 401
    assert body == {
        "error": {
            "code": 401,
            "message": "Request had invalid authentication credentials. Expected OAuth 2 access "
            "token, login cookie or other valid authentication credential.",
            "errors": [
                {
                    "message": "Request had invalid authentication credentials. Expected OAuth 2 "
                    "access token, login cookie or other valid authentication credential.",
                    "domain": "global",
                    "reason": "authError",
                    "location": "Authorization",
                    "locationType": "header",
                }
            ],
            "status": "UNAUTHENTICATED",
        }
    }


async def test_a_calendar_token_does_not_open_youtube(
    http: aiohttp.ClientSession, standin: GoogleStandIn
) -> None:
    headers = await bearer(http, standin, CALENDAR_SCOPE)

    status, body = await call(
        http, "GET", f"{standin.base_url}/youtube/v3/liveStreams", headers, part="id", mine="true"
    )

    assert (status, body["error"]["errors"][0]["reason"]) == (403, "insufficientPermissions")


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"id": "UPPERCASE-not-base32hex"}, 400, "invalid"),
        ({"id": "abc"}, 400, "invalid"),
        ({"attendees": [{"email": "someone@example.org"}]}, 403, "forbiddenForServiceAccounts"),
        ({"end": {"dateTime": "2031-04-02T12:00:00+01:00"}}, 400, "timeRangeEmpty"),
        (
            {"start": {"dateTime": "2031-04-02T13:00:00", "timeZone": "Mars/Olympus"}},
            400,
            "invalid",
        ),
        ({"start": {"dateTime": "2031-04-02T13:00:00"}}, 400, "timeZoneRequired"),
        ({"end": None}, 400, "required"),
        ({"status": "maybe"}, 400, "invalid"),
    ],
)
async def test_calendar_refuses_what_google_refuses(
    http: aiohttp.ClientSession,
    standin: GoogleStandIn,
    change: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    headers = await bearer(http, standin, CALENDAR_SCOPE)
    event = {k: v for k, v in (EVENT | change).items() if v is not None}

    answer, body = await call(
        http, "POST", f"{standin.calendar_endpoint}calendars/{CALENDAR_ID}/events", headers, event
    )

    assert (answer, body["error"]["errors"][0]["reason"]) == (status, reason)
    assert standin.events(CALENDAR_ID) == {}


async def test_calendar_list_hides_deleted_filters_and_pages(
    http: aiohttp.ClientSession, standin: GoogleStandIn
) -> None:
    headers = await bearer(http, standin, CALENDAR_SCOPE)
    events = f"{standin.calendar_endpoint}calendars/{CALENDAR_ID}/events"
    for i in range(5):
        body = EVENT | {
            "id": f"event0000{i}",
            "extendedProperties": {"private": {"internet10Key": f"slot:{i % 2}"}},
        }
        assert (await call(http, "POST", events, headers, body))[0] == 200
    assert (await call(http, "DELETE", f"{events}/event00000", headers))[0] == 204

    _, listed = await call(http, "GET", events, headers)
    _, with_deleted = await call(http, "GET", events, headers, showDeleted="true")
    _, slot_0 = await call(
        http, "GET", events, headers, privateExtendedProperty="internet10Key=slot:0"
    )
    _, first_page = await call(http, "GET", events, headers, maxResults="3")
    _, second_page = await call(
        http, "GET", events, headers, maxResults="3", pageToken=first_page["nextPageToken"]
    )

    assert [e["id"] for e in listed["items"]] == [f"event0000{i}" for i in range(1, 5)]
    assert [(e["id"], e["status"]) for e in with_deleted["items"]] == [
        ("event00000", "cancelled"),
        *[(f"event0000{i}", "confirmed") for i in range(1, 5)],
    ]
    assert [e["id"] for e in slot_0["items"]] == ["event00002", "event00004"]
    assert [e["id"] for e in first_page["items"] + second_page["items"]] == [
        e["id"] for e in listed["items"]
    ]
    assert "nextPageToken" not in second_page


async def test_youtube_lists_take_exactly_one_filter(
    http: aiohttp.ClientSession, standin: GoogleStandIn
) -> None:
    headers = await bearer(http, standin, YOUTUBE_SCOPE)
    url = f"{standin.base_url}/youtube/v3/liveBroadcasts"

    status, body = await call(
        http, "GET", url, headers, part="id", mine="true", broadcastStatus="upcoming"
    )

    assert (status, body["error"]["errors"][0]) == (
        400,
        {
            "message": "Incompatible parameters specified in the request.",
            "domain": "youtube.parameter",
            "reason": "incompatibleParameters",
        },
    )


async def test_consent_screen_refuses_a_redirect_outside_loopback(
    http: aiohttp.ClientSession, standin: GoogleStandIn
) -> None:
    params = {
        "client_id": standin.client_id,
        "redirect_uri": "https://attacker.example/callback",
        "response_type": "code",
        "scope": YOUTUBE_SCOPE,
    }
    async with http.get(standin.auth_uri, params=params, allow_redirects=False) as response:
        page = await response.text()

    assert response.status == 400
    assert "redirect_uri_mismatch" in page


async def test_watch_page_shows_the_broadcast(
    http: aiohttp.ClientSession, standin: GoogleStandIn
) -> None:
    headers = await bearer(http, standin, YOUTUBE_SCOPE)
    _, broadcast = await call(
        http,
        "POST",
        f"{standin.base_url}/youtube/v3/liveBroadcasts",
        headers,
        {
            "snippet": {"title": "Hub <IGF>", "scheduledStartTime": "2031-12-10T08:00:00Z"},
            "status": {"privacyStatus": "public"},
        },
        part="id,status",
    )
    assert broadcast["error"]["errors"][0]["reason"] == "invalidTitle"
    _, broadcast = await call(
        http,
        "POST",
        f"{standin.base_url}/youtube/v3/liveBroadcasts",
        headers,
        {
            "snippet": {"title": "Hub IGF & AfIGF", "scheduledStartTime": "2031-12-10T08:00:00Z"},
            "status": {"privacyStatus": "public"},
        },
        part="id,status",
    )
    assert set(broadcast) == {"kind", "etag", "id", "status"}  # only the parts asked for

    async with http.get(f"{standin.watch_url}{broadcast['id']}") as response:
        page = await response.text()

    assert response.status == 200
    assert "Hub IGF &amp; AfIGF" in page
    assert "Broadcast: created" in page


async def test_faults_apply_to_the_api_only(
    http: aiohttp.ClientSession, standin: GoogleStandIn
) -> None:
    standin.fail_next(1, 503, retry_after=12)

    headers = await bearer(http, standin, CALENDAR_SCOPE)  # the token endpoint still answers
    async with http.get(
        f"{standin.calendar_endpoint}calendars/{CALENDAR_ID}/events", headers=headers
    ) as response:
        body = await response.json()

    assert (response.status, response.headers["Retry-After"]) == (503, "12")
    assert body["error"] == {
        "code": 503,
        "message": "Backend Error",
        "errors": [{"message": "Backend Error", "domain": "global", "reason": "backendError"}],
        "status": "UNAVAILABLE",
    }


async def test_down_refuses_connections_until_up(
    http: aiohttp.ClientSession, standin: GoogleStandIn
) -> None:
    await standin.down()
    with pytest.raises(aiohttp.ClientConnectorError):
        await http.post(standin.token_uri)

    await standin.up()
    assert await bearer(http, standin, CALENDAR_SCOPE)


async def test_tokens_age_with_the_standins_clock(
    http: aiohttp.ClientSession, standin: GoogleStandIn
) -> None:
    headers = await bearer(http, standin, CALENDAR_SCOPE)
    events = f"{standin.calendar_endpoint}calendars/{CALENDAR_ID}/events"

    standin.advance(3599)
    fresh, _ = await call(http, "GET", events, headers)
    standin.advance(1)
    expired, body = await call(http, "GET", events, headers)

    assert (fresh, expired, body["error"]["status"]) == (200, 401, "UNAUTHENTICATED")
    assert await bearer(http, standin, CALENDAR_SCOPE)  # assertions keep real time: still fine
