"""Hostile input through every HTML form: each corpus entry (tests/reliability/forms.py) into
each field of each form the pages show, one field at a time with the others filled in
plausibly, plus invalid UTF-8; then every page, as every visitor. Never a 5xx, never hostile
markup unescaped; stored values come back escaped."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path

import pytest

from internet10.db import Database
from internet10.settings import Settings
from tests.reliability.forms import CORPUS, INVALID_UTF8, page_routes
from tests.reliability.hostile import Tally, hostile_site, pages_escape_everything, pour, run_order

pytestmark = [pytest.mark.reliability]


async def test_every_form_field_survives_the_whole_corpus(
    settings: Settings, database: Database, now: dt.datetime, tmp_path: Path
) -> None:
    started = time.monotonic()
    async with hostile_site(settings, database, now, tmp_path) as site:
        forms = run_order(site.discovery.forms)
        assert {f.endpoint for f in forms if f.method == "post"} == page_routes(site.app, "POST")
        tally = Tally()
        fields = 0
        for form in forms:
            fields += len(form.corpus_fields())
            await pour(site, tally, form, CORPUS, INVALID_UTF8)
        shown = await pages_escape_everything(site, tally)
    figures = {
        "forms": len(forms),
        "post routes": len(page_routes(site.app, "POST")),
        "fields": fields,
        "corpus entries": len(CORPUS) + len(INVALID_UTF8),
        "requests": tally.requests,
        "pages showing a stored hostile value, escaped": shown,
        "seconds": round(time.monotonic() - started, 1),
        **tally.outcomes,
    }
    print("\nhostile forms:", figures)
    print("slowest:", [(e, round(t, 1)) for e, t in tally.seconds.most_common(8)])
    unnamed = Counter(u.split(" ")[0] for u in tally.unnamed)
    print("400/422 on the generic error page:", len(tally.unnamed), dict(unnamed.most_common()))
    for problem in tally.problems:
        print("PROBLEM", problem)
    assert [str(p) for p in tally.problems] == []
    assert shown > 0  # the corpus was stored somewhere and rendered: the check can fail
    assert tally.unnamed == []  # every 400/422 names the field or explains itself on the form
