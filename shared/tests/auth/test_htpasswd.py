"""htpasswd users: bcrypt entries only (others refused naming their line), checks, remembered successes, and the
file re-read when it changes (a broken edit keeps the users read before)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest

from registry_core.auth import htpasswd
from registry_core.auth.htpasswd import Htpasswd, HtpasswdError, parse_htpasswd
from registry_core.config import ConfigError


def entry(user: str, password: str) -> str:
    """An ``htpasswd -B`` line (cost 4: these tests check many)."""
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}"


ALICE = entry("alice", "alice-pw")
BOB = entry("bob", "bob-pw")


def write(path: Path, *lines: str) -> Path:
    """Replace the file (a new inode, as most editors and config managers write)."""
    staged = path.with_name(path.name + ".new")
    staged.write_text("".join(f"{line}\n" for line in lines))
    os.replace(staged, path)
    return path


@pytest.fixture
def recheck_always(monkeypatch: pytest.MonkeyPatch) -> None:
    """Look at the file on every check rather than at most once a second."""
    monkeypatch.setattr(htpasswd, "RECHECK_SECONDS", 0.0)


@pytest.fixture
def count_checks(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """How many bcrypt checks ran so far."""
    calls: list[bytes | None] = []
    real = htpasswd._check

    def counted(password: str, hashed: bytes | None, cost: int) -> bool:
        calls.append(hashed)
        return real(password, hashed, cost)

    monkeypatch.setattr(htpasswd, "_check", counted)
    return lambda: len(calls)


# -- reading the file ------------------------------------------------------------------------------------------------


async def test_bcrypt_entries_check_passwords(tmp_path: Path) -> None:
    users = Htpasswd(write(tmp_path / "htpasswd", ALICE, BOB, entry("carol", "pâss wörd:with colon")))
    assert await users.authenticate("alice", "alice-pw")
    assert await users.authenticate("bob", "bob-pw")
    assert await users.authenticate("carol", "pâss wörd:with colon")
    assert not await users.authenticate("alice", "bob-pw")
    assert not await users.authenticate("alice", "")
    assert not await users.authenticate("alice", "alice-pw ")
    assert not await users.authenticate("mallory", "alice-pw")
    assert not await users.authenticate("", "")
    assert "alice" in users and "mallory" not in users


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
async def test_every_bcrypt_variant_is_read(tmp_path: Path, prefix: str) -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    users = Htpasswd(write(tmp_path / "htpasswd", f"alice:{prefix}{hashed[4:]}"))
    assert await users.authenticate("alice", "pw")  # the variants differ in history, not in the check


async def test_comments_blank_lines_and_surrounding_spaces_are_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "htpasswd", "# the registry's users", "", "   ", f"  {ALICE}  ", "  # bob left", BOB)
    users = Htpasswd(path)
    assert await users.authenticate("alice", "alice-pw")
    assert await users.authenticate("bob", "bob-pw")
    assert parse_htpasswd(path.read_text(), "f").keys() == {"alice", "bob"}


@pytest.mark.parametrize(
    "line",
    [
        "carol:$apr1$Ks4VxFtC$u0QTQ0VIc3G8bPbPO0PKx0",  # htpasswd -m (Apache MD5)
        "carol:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",  # htpasswd -s
        "carol:plaintext-password",  # htpasswd -p
        "carol:$1$abc$def",  # crypt(3) MD5
        "carol:$6$salt$hash",  # crypt(3) SHA-512
    ],
)
def test_other_hashes_are_refused_naming_the_line(tmp_path: Path, line: str) -> None:
    path = write(tmp_path / "htpasswd", "# users", ALICE, line, BOB)
    with pytest.raises(HtpasswdError) as raised:
        Htpasswd(path)
    message = str(raised.value)
    assert f"{path}, line 3" in message
    assert "'carol'" in message and "bcrypt" in message
    assert line.split(":", 1)[1] not in message  # never the hash (or password) itself
    assert isinstance(raised.value, ConfigError)  # the CLI's "invalid configuration", exit 2


@pytest.mark.parametrize("line", ["carol", "carol:", ":$2y$05$abcdefghijklmnopqrstuv"])
def test_a_line_without_user_and_hash_is_refused_naming_it(tmp_path: Path, line: str) -> None:
    path = write(tmp_path / "htpasswd", ALICE, line)
    with pytest.raises(HtpasswdError, match=r"line 2: is not <user>:<bcrypt hash>"):
        Htpasswd(path)


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(HtpasswdError, match=r"auth\.htpasswd\.path: cannot read .*nowhere"):
        Htpasswd(tmp_path / "nowhere")


def test_a_file_that_is_not_text_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_bytes(ALICE.encode() + b"\n\xff\xfe\x00binary\n")
    with pytest.raises(HtpasswdError, match=r"auth\.htpasswd\.path .*, line 2: is not UTF-8 text"):
        Htpasswd(path)


async def test_a_password_over_72_bytes_is_refused_not_an_error(tmp_path: Path) -> None:
    users = Htpasswd(write(tmp_path / "htpasswd", entry("alice", "a" * 72)))
    assert await users.authenticate("alice", "a" * 72)
    assert not await users.authenticate("alice", "a" * 73)  # not the 72-byte password with one more byte
    assert not await users.authenticate("alice", "é" * 40)  # 80 bytes


async def test_a_malformed_bcrypt_hash_refuses_rather_than_fails(tmp_path: Path) -> None:
    users = Htpasswd(write(tmp_path / "htpasswd", ALICE, "bob:$2y$10$short"))
    assert not await users.authenticate("bob", "anything")
    assert await users.authenticate("alice", "alice-pw")


# -- remembered successes --------------------------------------------------------------------------------------------


async def test_a_success_is_remembered_but_only_for_the_same_password(
    tmp_path: Path, count_checks: Callable[[], int]
) -> None:
    users = Htpasswd(write(tmp_path / "htpasswd", ALICE, BOB))
    assert await users.authenticate("alice", "alice-pw")
    assert count_checks() == 1
    assert await users.authenticate("alice", "alice-pw")
    assert count_checks() == 1  # remembered: no second bcrypt

    assert not await users.authenticate("alice", "wrong")  # a different password is checked, and refused
    assert not await users.authenticate("alice", "alice-pw\0")
    assert count_checks() == 3
    assert not await users.authenticate("bob", "alice-pw")  # another user's remembered password is not bob's
    assert await users.authenticate("alice", "alice-pw")  # still remembered after the failures
    assert count_checks() == 4


async def test_failures_are_not_remembered(tmp_path: Path, count_checks: Callable[[], int]) -> None:
    users = Htpasswd(write(tmp_path / "htpasswd", ALICE))
    for _ in range(3):
        assert not await users.authenticate("alice", "wrong")
    assert count_checks() == 3


async def test_an_unknown_user_costs_a_bcrypt_check_too(tmp_path: Path, count_checks: Callable[[], int]) -> None:
    users = Htpasswd(write(tmp_path / "htpasswd", ALICE))
    assert not await users.authenticate("mallory", "x")
    assert count_checks() == 1


def test_the_dummy_check_of_an_unknown_user_has_the_cost_of_the_file() -> None:
    """Timing must not tell an unknown user from a wrong password: the dummy hash costs what the entries do."""
    assert htpasswd._cost({"alice": b"$2y$05$" + b"x" * 53}) == 5
    assert htpasswd._cost({"alice": b"$2b$12$" + b"x" * 53}) == 12
    assert htpasswd._cost({}) == 10
    assert htpasswd._dummy_hash(5).startswith(b"$2b$05$")


async def test_a_remembered_success_expires(
    tmp_path: Path, count_checks: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(htpasswd, "REMEMBER_SECONDS", -1.0)  # already over when remembered
    users = Htpasswd(write(tmp_path / "htpasswd", ALICE))
    assert await users.authenticate("alice", "alice-pw")
    assert await users.authenticate("alice", "alice-pw")
    assert count_checks() == 2


# -- the file changes ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("recheck_always")
async def test_the_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = write(tmp_path / "htpasswd", ALICE)
    users = Htpasswd(path)
    assert await users.authenticate("alice", "alice-pw")
    assert not await users.authenticate("bob", "bob-pw")

    write(path, ALICE, BOB)
    assert await users.authenticate("bob", "bob-pw")

    write(path, BOB)
    assert not await users.authenticate("alice", "alice-pw")  # removed, though her success was remembered
    assert "alice" not in users

    write(path, entry("bob", "new-pw"))
    assert not await users.authenticate("bob", "bob-pw")
    assert await users.authenticate("bob", "new-pw")


@pytest.mark.usefixtures("recheck_always")
async def test_a_file_edited_in_place_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(ALICE + "\n")
    users = Htpasswd(path)
    with path.open("a") as file:  # same inode, as `htpasswd -B file carol` appends
        file.write(entry("carol", "carol-pw") + "\n")
    assert await users.authenticate("carol", "carol-pw")
    assert await users.authenticate("alice", "alice-pw")


async def test_the_file_is_looked_at_no_more_than_once_per_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(htpasswd, "RECHECK_SECONDS", 3600.0)
    path = write(tmp_path / "htpasswd", ALICE)
    users = Htpasswd(path)
    write(path, ALICE, BOB)
    assert not await users.authenticate("bob", "bob-pw")  # not looked at yet: the interval has not passed


@pytest.mark.usefixtures("recheck_always")
@pytest.mark.parametrize(
    ("broken", "named"),
    [
        ("dave:$apr1$Ks4VxFtC$u0QTQ0VIc3G8bPbPO0PKx0", "line 2 (user 'dave')"),
        ("dave", "line 2: is not"),
    ],
)
async def test_a_broken_edit_keeps_the_users_read_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, broken: str, named: str
) -> None:
    path = write(tmp_path / "htpasswd", ALICE)
    users = Htpasswd(path)
    with caplog.at_level(logging.INFO, logger="registry.auth"):
        write(path, BOB, broken)
        assert await users.authenticate("alice", "alice-pw")
        assert not await users.authenticate("bob", "bob-pw")  # nothing of the broken file is taken
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and named in errors[0] and "keeping the users read before" in errors[0]

    write(path, BOB)  # fixed: read again
    assert await users.authenticate("bob", "bob-pw")
    assert not await users.authenticate("alice", "alice-pw")


@pytest.mark.usefixtures("recheck_always")
async def test_an_edit_that_is_not_text_keeps_the_users_read_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "htpasswd", ALICE)
    users = Htpasswd(path)
    with caplog.at_level(logging.INFO, logger="registry.auth"):
        path.write_bytes(BOB.encode() + b"\n\xff\xfe binary\n")
        assert await users.authenticate("alice", "alice-pw")
        assert not await users.authenticate("bob", "bob-pw")
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and f"{path}, line 2: is not UTF-8 text" in errors[0]


@pytest.mark.usefixtures("recheck_always")
async def test_a_removed_file_keeps_the_users_read_before_until_it_is_back(tmp_path: Path) -> None:
    path = write(tmp_path / "htpasswd", ALICE)
    users = Htpasswd(path)
    path.unlink()
    assert await users.authenticate("alice", "alice-pw")
    write(path, BOB)
    assert await users.authenticate("bob", "bob-pw")
    assert not await users.authenticate("alice", "alice-pw")
