"""Basic credentials: decoded, or refused as malformed; other schemes leave the client anonymous."""

from __future__ import annotations

import base64

import pytest

from registry_core.auth.basic import Credentials, MalformedCredentials, basic_credentials


def header(raw: bytes, scheme: str = "Basic") -> str:
    return f"{scheme} {base64.b64encode(raw).decode()}"


def test_user_and_password_are_split_at_the_first_colon() -> None:
    assert basic_credentials(header(b"alice:pa:ss")) == Credentials("alice", "pa:ss")
    assert basic_credentials(header("zoë:mot".encode(), "basic")) == Credentials("zoë", "mot")


def test_no_header_or_another_scheme_is_anonymous() -> None:
    assert basic_credentials(None) is None
    assert basic_credentials("Bearer abc.def.ghi") is None


@pytest.mark.parametrize("value", ["Basic !!!", header(b"no-colon"), header(b"\xff\xfe:x"), "Basic"])
def test_malformed_basic_is_refused(value: str) -> None:
    with pytest.raises(MalformedCredentials):
        basic_credentials(value)


def test_the_password_never_shows_in_a_repr() -> None:
    assert "secret" not in repr(Credentials("alice", "secret"))
