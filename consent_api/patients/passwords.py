"""Password hashing with argon2id: full strength, or cheap parameters for the test suite.

The parameters are chosen once per app from `APP_ENV`: production and development use
argon2-cffi's defaults (RFC 9106's low-memory recommendation); `APP_ENV=testing` uses the
same algorithm and code path at a fraction of the cost, so a suite that logs patients in
hundreds of times does not spend its minutes hashing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app
from zxcvbn import zxcvbn

# NIST SP 800-63B: no composition rules, but refuse what is common, guessable or built from
# the account's own details. zxcvbn's score 3 means about 10^8 guesses or more; it estimates
# from the first ESTIMATED_LENGTH characters (it slows down on long inputs, and refuses them).
MIN_SCORE = 3
ESTIMATED_LENGTH = 64
# Words of this service a password must not be made of (NIST: "context-specific words").
SERVICE_WORDS = ("consent", "wallet")
# What must remain of a password once the account's and the service's words are taken out
# (letters and digits only): less means it is built from them, whatever zxcvbn estimates.
MIN_OWN_CHARACTERS = 4
# Cheapest parameters argon2 accepts; for tests only, never chosen outside APP_ENV=testing.
TESTING_PARAMETERS = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
_EXTENSION = "password_hasher"


class Passwords:
    """Hash and verify patients' passwords with one set of argon2id parameters."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher
        # Verifying against a real hash when the e-mail is unknown keeps login timing uniform.
        self._dummy = hasher.hash("not-a-real-password-timing-pad")

    def hash(self, password: str) -> str:
        """Return the argon2id hash to store."""
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored` (None: no such account, checked all the same)."""
        try:
            matched = self._hasher.verify(self._dummy if stored is None else stored, password)
        except (VerificationError, InvalidHashError):
            return False
        return matched and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        """Whether `stored` was made with other parameters than ours."""
        return self._hasher.check_needs_rehash(stored)


def hasher_for(app_env: str) -> PasswordHasher:
    """The argon2id hasher an environment uses."""
    if app_env == "testing":
        return PasswordHasher(**TESTING_PARAMETERS)
    return PasswordHasher()


def init_app(app: Flask) -> None:
    """Choose this app's password parameters."""
    app.extensions[_EXTENSION] = Passwords(hasher_for(app.config["APP_ENV"]))


def passwords() -> Passwords:
    """The current app's password hashing."""
    return current_app.extensions[_EXTENSION]


def weakness(password: str, *, personal: Sequence[str] = ()) -> str | None:
    """Why a new password is too easy to guess (zxcvbn), or None if it is strong enough.
    `personal` holds the account's own details (e-mail, name), which an attacker tries first."""
    words = [
        word
        for item in (*personal, *SERVICE_WORDS)
        for word in (item.lower(), *re.split(r"[^0-9a-z]+", item.lower()))
        if len(word) >= 3
    ]
    estimate = zxcvbn(password[:ESTIMATED_LENGTH], user_inputs=words)
    if estimate["score"] < MIN_SCORE:
        feedback = estimate["feedback"]
        hint = feedback["warning"] or "It is too easy to guess."
        return " ".join([hint, *feedback["suggestions"][:1]]).strip()
    own = re.sub(r"[^0-9a-z]", "", password.lower())
    for word in sorted(set(words), key=len, reverse=True):
        own = own.replace(re.sub(r"[^0-9a-z]", "", word), "")
    if len(own) < MIN_OWN_CHARACTERS:
        return "It is built from your name, your e-mail or this service's name."
    return None
