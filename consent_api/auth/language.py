"""The login page's language: the browser's (Accept-Language) where we have a translation,
English otherwise (Flask-Babel; catalogs in consent_api/auth/translations)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request
from flask_babel import Babel, get_locale, lazy_gettext

LANGUAGES = ("en", "de")
TRANSLATIONS = Path(__file__).parent / "translations"

babel = Babel()

# What each scope lets an app do, in words a patient reads on the login page.
SCOPE_WORDS = {
    "patient": lazy_gettext(
        "see and manage your consents, your links to organisations, your access history, "
        "your health points and your notifications, as you"
    ),
}


def _locale() -> str:
    return request.accept_languages.best_match(LANGUAGES, default=LANGUAGES[0])


def current() -> str:
    """The language the page is in."""
    return str(get_locale() or LANGUAGES[0])


def init_app(app: Flask) -> None:
    """Choose each page's language from the request; catalogs from this package."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, locale_selector=_locale)
