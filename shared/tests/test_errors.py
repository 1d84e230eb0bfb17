from __future__ import annotations

from registry_core.errors import ErrorCode, RegistryError

SPEC_CODES = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
}


def test_every_spec_code_has_its_status() -> None:
    assert {c: ErrorCode[c].status for c in SPEC_CODES} == SPEC_CODES


def test_body_shape_and_overrides() -> None:
    err = RegistryError(ErrorCode.BLOB_UPLOAD_INVALID, {"range": "0-9"}, status=416, headers={"Range": "0-9"})
    assert err.status == 416 and err.headers == {"Range": "0-9"}
    assert err.body() == {
        "errors": [{"code": "BLOB_UPLOAD_INVALID", "message": "blob upload invalid", "detail": {"range": "0-9"}}]
    }
    assert RegistryError(ErrorCode.NAME_UNKNOWN).body()["errors"][0]["detail"] == {}
