"""``registry garbage-collect --online``: refused (exit 2) unless the configuration enables online collection
(what makes writers leave claims); with it, one pass collects what is older than grace."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pytest
import yaml

from registry_core.testing.configs import filesystem_config
from registry_server import gc_command

ORPHAN = b"orphan"


def config(tmp_path: Path, **gc: object) -> Path:
    doc = yaml.safe_load(filesystem_config(tmp_path / "root"))
    doc["storage"]["maintenance"] = {"garbagecollect": gc}
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def orphan(tmp_path: Path) -> Path:
    """A blob no manifest references, with its layer link, both an hour old."""
    import hashlib

    hexed = hashlib.sha256(ORPHAN).hexdigest()
    root = tmp_path / "root" / "docker" / "registry" / "v2"
    data = root / "blobs" / "sha256" / hexed[:2] / hexed / "data"
    link = root / "repositories" / "app" / "_layers" / "sha256" / hexed / "link"
    for path, content in ((data, ORPHAN), (link, f"sha256:{hexed}".encode())):
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    return data


def run(path: Path, *flags: str) -> int:
    parser = argparse.ArgumentParser()
    gc_command.add_parser(parser.add_subparsers())
    return gc_command.run(parser.parse_args([gc_command.COMMAND, "--config", str(path), *flags]))


def test_online_is_refused_unless_enabled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = orphan(tmp_path)
    assert run(config(tmp_path), "--online") == 2
    assert "garbagecollect.enabled" in capsys.readouterr().err
    assert data.exists()


def test_online_runs_a_pass_when_enabled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = orphan(tmp_path)
    path = config(tmp_path, enabled=True, grace="10m")
    assert run(path, "--online", "--dry-run") == 0 and data.exists()
    assert run(path, "--online") == 0
    assert not data.exists()
    out = capsys.readouterr().out
    assert "deleted blob sha256:" in out and "0 candidates rescued by claims" in out
