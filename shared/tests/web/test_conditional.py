"""``If-None-Match`` against a digest ETag: RFC 9110 weak comparison, lists, ``*``, and Go's unquoted tags."""

from __future__ import annotations

import pytest

from registry_core.web.conditional import etag_matches, opaque_tag

DIGEST = "sha256:" + "a" * 64
ETAG = f'"{DIGEST}"'
OTHER = "sha256:" + "b" * 64


@pytest.mark.parametrize(
    "header",
    [
        ETAG,
        f"W/{ETAG}",
        DIGEST,  # unquoted, as the Go registry accepts
        "*",
        f'"{OTHER}", {ETAG}',
        f'"{OTHER}",W/{ETAG}',
        f"  {ETAG}  ",
        f'"{OTHER}", *',
    ],
)
def test_matches(header: str) -> None:
    assert etag_matches([header], ETAG)


@pytest.mark.parametrize(
    "header", [f'"{OTHER}"', OTHER, "", ",", f'"{DIGEST}x"', f'"{DIGEST[:-1]}"', f'W/"{OTHER}"', '"*"', DIGEST.upper()]
)
def test_does_not_match(header: str) -> None:
    assert not etag_matches([header], ETAG)


def test_any_of_several_header_lines() -> None:
    assert etag_matches([f'"{OTHER}"', ETAG], ETAG)
    assert not etag_matches([f'"{OTHER}"', f'W/"{OTHER}"'], ETAG)
    assert not etag_matches([], ETAG)


def test_a_quoted_tag_may_hold_a_comma() -> None:
    assert etag_matches(['"a,b"'], '"a,b"')
    assert not etag_matches(['"a,b"'], '"a"')


@pytest.mark.parametrize("etag", [ETAG, f"W/{ETAG}", DIGEST, f" {ETAG} "])
def test_opaque_tag(etag: str) -> None:
    assert opaque_tag(etag) == DIGEST
