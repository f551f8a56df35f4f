"""The login page's catalogs: every text the page and its routes say is translated, and the
compiled catalog the app loads is the one its .po file says (`make translations`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from consent_api.auth.language import LANGUAGES, TRANSLATIONS

AUTH = Path(TRANSLATIONS).parent
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]


def _said() -> set[str]:
    found = extract_from_dir(
        str(AUTH), METHODS, keywords={"_": None, "gettext": None, "lazy_gettext": None}
    )
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_text_of_the_login_page_is_translated_and_compiled(language):
    folder = TRANSLATIONS / language / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as po:
        catalog = read_po(po)
    with (folder / "messages.mo").open("rb") as mo:
        compiled = read_mo(mo)
    said = _said()
    assert said, "nothing extracted: the extraction itself is broken"
    untranslated = {text for text in said if not (catalog.get(text) and catalog.get(text).string)}
    assert untranslated == set()
    assert {m.id: m.string for m in catalog if m.id} == {m.id: m.string for m in compiled if m.id}
