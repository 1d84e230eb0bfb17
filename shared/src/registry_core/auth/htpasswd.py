"""Users of an Apache htpasswd file of bcrypt entries (``htpasswd -B``), as the Go registry's ``auth.htpasswd``.

A check costs one bcrypt (~100 ms at cost 10), so it runs in a worker thread, and a successful check is
remembered for :data:`REMEMBER_SECONDS` (as an HMAC of the password under a key of this process, compared in
constant time). The file is re-read when it changes (checked at most once per :data:`RECHECK_SECONDS`);
an edit that breaks it keeps the previous users and logs the line at fault.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from registry_core.config import ConfigError

log = logging.getLogger("registry.auth")

REMEMBER_SECONDS = 60.0
RECHECK_SECONDS = 1.0
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


@functools.cache
def _dummy_hash(cost: int) -> bytes:
    """Checked against for unknown users, at the cost of the file's entries, so that a wrong user name costs what a
    wrong password does (``htpasswd -B`` writes cost 5 by default, ``-C`` sets another)."""
    return bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=cost))


def _cost(users: dict[str, bytes]) -> int:
    """The bcrypt cost of the file's first entry (``$2y$05$...``), 10 when it has none."""
    for hashed in users.values():
        if hashed[4:6].isdigit() and 4 <= int(hashed[4:6]) <= 31:
            return int(hashed[4:6])
    return 10


class HtpasswdError(ConfigError):
    """The file cannot be used; the message names the file and the line, never a hash."""


def parse_htpasswd(text: str, source: str) -> dict[str, bytes]:
    """``{user: bcrypt hash}`` from the file's text; comments (``#``) and blank lines are skipped."""
    users: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user or not hashed:
            raise HtpasswdError(f"{source}, line {number}: is not <user>:<bcrypt hash>")
        if not hashed.startswith(_BCRYPT_PREFIXES):
            raise HtpasswdError(
                f"{source}, line {number} (user {user!r}): only bcrypt entries are supported (htpasswd -B)"
            )
        users[user] = hashed.encode()
    return users


def read_htpasswd(path: Path, source: str) -> dict[str, bytes]:
    """The users of the file at ``path`` (UTF-8); :class:`HtpasswdError` names the line of a byte that is not."""
    data = path.read_bytes()
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise HtpasswdError(f"{source}, line {line}: is not UTF-8 text") from None
    return parse_htpasswd(text, source)


def _file_state(path: Path) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


@dataclass
class _Remembered:
    password_mac: bytes
    until: float


class Htpasswd:
    """``await users.authenticate(user, password)``; raises :class:`HtpasswdError` at construction when the file is
    missing or invalid."""

    def __init__(self, path: str | Path, *, key: str = "auth.htpasswd.path") -> None:
        self.path = Path(path)
        self._key = key
        try:
            self._state = _file_state(self.path)
            self._users = read_htpasswd(self.path, f"{key} {self.path}")
        except OSError as exc:
            raise HtpasswdError(f"{key}: cannot read {self.path}: {exc.strerror}") from exc
        self._next_check = time.monotonic() + RECHECK_SECONDS
        self._mac_key = secrets.token_bytes(32)
        self._remembered: dict[str, _Remembered] = {}

    def __contains__(self, user: str) -> bool:
        self._reload_if_changed()
        return user in self._users

    async def authenticate(self, user: str, password: str) -> bool:
        self._reload_if_changed()
        mac = hmac.new(self._mac_key, f"{user}\0{password}".encode(), hashlib.sha256).digest()
        remembered = self._remembered.get(user)
        now = time.monotonic()
        if remembered is not None and remembered.until > now and hmac.compare_digest(remembered.password_mac, mac):
            return True
        hashed = self._users.get(user)
        users = self._users
        ok = await asyncio.to_thread(_check, password, hashed, _cost(users)) and hashed is not None
        if ok and users is self._users:  # not remembered across a reload that happened meanwhile
            self._remembered[user] = _Remembered(mac, now + REMEMBER_SECONDS)
        return ok

    def _reload_if_changed(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + RECHECK_SECONDS
        try:
            state = _file_state(self.path)
            if state == self._state:
                return
            users = read_htpasswd(self.path, f"{self._key} {self.path}")
        except (OSError, HtpasswdError) as exc:
            log.error("htpasswd: keeping the users read before: %s", exc)
            return
        self._state, self._users = state, users
        self._remembered.clear()
        log.info("htpasswd: re-read %s (%d users)", self.path, len(users))


def _check(password: str, hashed: bytes | None, cost: int) -> bool:
    """bcrypt (in a worker thread): against ``hashed``, or a dummy hash of ``cost`` for an unknown user."""
    try:
        return bcrypt.checkpw(password.encode(), hashed or _dummy_hash(cost))
    except ValueError:  # a password over bcrypt's 72 bytes, or a malformed hash
        return False
