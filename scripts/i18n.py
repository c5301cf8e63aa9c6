"""Keep the French and English catalogs in step with the source strings.

``python scripts/i18n.py update`` extracts the strings, merges them into both catalogs and, for
English, fills every message with its own text (the source strings are English).
``python scripts/i18n.py merge fr FILE.json`` sets translations from a {"msgid": "text"} file.
``python scripts/i18n.py check`` fails when a catalog misses or leaves empty any source string.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "internet10" / "translations"
POT = TRANSLATIONS / "messages.pot"
LANGS = ("fr", "en")


def extract() -> None:
    catalog = Catalog(fuzzy=False)
    method_map = [("**.py", "python"), ("**.html", "jinja2"), ("**.txt", "jinja2")]
    keywords = {"_": None, "gettext": None, "lazy_gettext": None}
    for folder in ("internet10", "templates"):
        for filename, lineno, message, _comments, context in extract_from_dir(
            ROOT / folder, method_map, keywords=keywords
        ):
            catalog.add(message, None, [(f"{folder}/{filename}", lineno)], context=context)
    with POT.open("wb") as f:
        write_po(f, catalog, omit_header=True, sort_output=True, no_location=True, width=100)


def missing(lang: str) -> list[str]:
    with POT.open("rb") as f:
        template = read_po(f)
    path = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return [str(m.id) for m in template if m.id]
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang)
    gaps = ["(the whole catalog is marked fuzzy)"] if catalog.fuzzy else []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id)
        if found is None or not found.string or found.fuzzy:
            gaps.append(str(message.id))
    return gaps


def update() -> None:
    extract()
    with POT.open("rb") as f:
        template = read_po(f)
    for lang in LANGS:
        path = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as f:
                catalog = read_po(f, locale=lang)
            catalog.update(template, no_fuzzy_matching=True)
        else:
            catalog = template.__class__(locale=lang)
            catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        if lang == "en":
            for message in catalog:
                if message.id and not message.string:
                    message.string = message.id
        with path.open("wb") as f:
            write_po(f, catalog, omit_header=False, sort_output=True, width=100)


def merge(lang: str, source: Path) -> None:
    texts = json.loads(source.read_text(encoding="utf-8"))
    path = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang)
    for message in catalog:
        if message.id in texts:
            message.string = texts[message.id]
    with path.open("wb") as f:
        write_po(f, catalog, omit_header=False, sort_output=True, width=100)


def main() -> int:
    if sys.argv[1:] == ["update"]:
        update()
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "merge":
        update()
        merge(sys.argv[2], Path(sys.argv[3]))
        return 0
    if sys.argv[1:] == ["check"]:
        extract()
        bad = {lang: missing(lang) for lang in LANGS}
        for lang, gaps in bad.items():
            for gap in gaps:
                print(f"{lang}: untranslated: {gap!r}")
        return 1 if any(bad.values()) else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
