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


def tagged(tmp_path: Path, tag: str, hours: float) -> Path:
    """A manifest (and its config) tagged ``app:tag``, every file ``hours`` old; returns the tag's directory."""
    import hashlib
    import json

    root = tmp_path / "root" / "docker" / "registry" / "v2"
    repo = root / "repositories" / "app"
    config_data = json.dumps({"tag": tag}).encode()
    config_digest = f"sha256:{hashlib.sha256(config_data).hexdigest()}"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config_data),
            },
            "layers": [],
        }
    ).encode()
    hexed, config_hex = hashlib.sha256(manifest).hexdigest(), config_digest.removeprefix("sha256:")
    link = f"sha256:{hexed}".encode()
    files = {
        root / "blobs" / "sha256" / hexed[:2] / hexed / "data": manifest,
        root / "blobs" / "sha256" / config_hex[:2] / config_hex / "data": config_data,
        repo / "_layers" / "sha256" / config_hex / "link": config_digest.encode(),
        repo / "_manifests" / "revisions" / "sha256" / hexed / "link": link,
        repo / "_manifests" / "tags" / tag / "index" / "sha256" / hexed / "link": link,
        repo / "_manifests" / "tags" / tag / "current" / "link": link,
    }
    when = time.time() - hours * 3600
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, (when, when))
    return repo / "_manifests" / "tags" / tag


def test_only_the_online_pass_applies_retention_and_a_dry_run_prints_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = tagged(tmp_path, "v1", 3), tagged(tmp_path, "v2", 2)
    rule = {"repositories": ["app"], "keepnewest": 1, "untaggedolderthan": "1h"}
    path = config(tmp_path, enabled=True, grace="10m", retention=[rule])

    assert run(path, "--force", "--delete-untagged") == 0  # offline: no retention, both tags stay
    assert old.exists() and new.exists()
    capsys.readouterr()

    assert run(path, "--online", "--dry-run") == 0 and old.exists()
    out = capsys.readouterr().out
    assert "retention: would delete tag app:v1 (pushed " in out
    assert "retention: would delete manifest app@sha256:" in out
    assert any(line.startswith("would delete tag app:v1 (sha256:") for line in out.splitlines())
    assert "would delete 1 tag, 1 manifest," in out

    assert run(path, "--online") == 0
    out = capsys.readouterr().out
    assert "deleted tag app:v1 (sha256:" in out and "retention:" not in out
    assert not old.exists() and new.exists()
