from __future__ import annotations

import pytest

from registry_core.errors import ErrorCode, RegistryError
from registry_core.names import is_valid_name, is_valid_tag, validate_name, validate_tag

VALID_NAMES = ["a", "library/ubuntu", "a/b/c/d", "foo-bar", "foo--bar", "foo__bar", "foo.bar", "a0/b1", "x" * 255]
INVALID_NAMES = [
    "",
    "Upper",
    "a/",
    "/a",
    "a//b",
    "a/../b",
    "..",
    ".",
    "a/./b",
    "-a",
    "a-",
    "a_",
    "_a",
    "a___b",
    "a/b c",
    "a.-b",
    "a\n",
    "x" * 256,
    "a/" + "b" * 254,
    "ä",
]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_names(name: str) -> None:
    assert is_valid_name(name)
    assert validate_name(name) == name


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_names(name: str) -> None:
    assert not is_valid_name(name)
    with pytest.raises(RegistryError) as err:
        validate_name(name)
    assert err.value.code is ErrorCode.NAME_INVALID
    assert err.value.status == 400


@pytest.mark.parametrize("tag", ["latest", "v1.0.0", "_x", "A-b_c.d", "1" * 128])
def test_valid_tags(tag: str) -> None:
    assert is_valid_tag(tag) and validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".x", "-x", "latest\n", "a/b", "a:b", "1" * 129, "sha256:abc", "ä"])
def test_invalid_tags(tag: str) -> None:
    assert not is_valid_tag(tag)
    with pytest.raises(RegistryError):
        validate_tag(tag)
