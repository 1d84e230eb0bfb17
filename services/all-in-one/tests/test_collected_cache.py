"""A blob-read process of its own refuses online GC with a cache the collector cannot clear."""

from __future__ import annotations

from typing import Any

import pytest

from registry_core.config import ConfigError, Settings
from registry_server.cli import check_collected_cache


def settings(cache: str | None, *, gc: bool = True, **extra: Any) -> Settings:
    storage: dict[str, Any] = {"inmemory": {}, "maintenance": {"garbagecollect": {"enabled": gc}}}
    if cache is not None:
        storage["cache"] = {"blobdescriptor": cache}
    return Settings.model_validate({"storage": storage, **extra})


@pytest.mark.parametrize("cache", [None, "inmemory"])
def test_a_reader_with_an_in_memory_cache_is_refused(cache: str | None) -> None:
    with pytest.raises(ConfigError, match=r"storage\.cache\.blobdescriptor: redis"):
        check_collected_cache("blob-read", settings(cache))


def test_what_can_be_cleared_or_needs_no_clearing_is_accepted() -> None:
    check_collected_cache("blob-read", settings("redis", redis={"addr": "127.0.0.1:6379"}))
    check_collected_cache("blob-read", settings(None, gc=False))
    check_collected_cache("all", settings(None))
    check_collected_cache("blob-write", settings(None))
