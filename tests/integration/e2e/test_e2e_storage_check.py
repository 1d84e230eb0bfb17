"""After every other test (conftest orders this file last): the bucket holds no bad blob and no dangling link.

The check runs inside a blob-read container (it has boto3 and the stack's config), reads S3 directly, and
reports: every ``blobs/<alg>/<xx>/<hex>/data`` hashes to its path, and every ``link`` under ``repositories/``
names a blob that exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from e2e_stack import Stack

pytestmark = pytest.mark.e2e

CHECK = r"""
import hashlib, json, re
import boto3
from registry_core.config import load_settings

s3 = load_settings("/etc/registry/config.yml").storage.s3
client = boto3.client("s3", endpoint_url=s3.regionendpoint, region_name=s3.region,
                      aws_access_key_id=s3.accesskey, aws_secret_access_key=s3.secretkey)
root = s3.rootdirectory.strip("/")
prefix = (root + "/" if root else "") + "docker/registry/v2/"
blob_key = re.compile(r"blobs/(sha256|sha512)/([0-9a-f]{2})/([0-9a-f]+)/data")
blobs, links, bad, dangling, uploads = {}, {}, [], [], 0
for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix):
    for obj in page.get("Contents", []):
        key = obj["Key"][len(prefix):]
        if key.startswith("blobs/"):
            match = blob_key.fullmatch(key)
            if match is None or match[3][:2] != match[2]:
                bad.append(f"{key}: not a blob path")
                continue
            digest = hashlib.new(match[1])
            body = client.get_object(Bucket=s3.bucket, Key=obj["Key"])["Body"]
            for chunk in iter(lambda: body.read(1 << 20), b""):
                digest.update(chunk)
            if digest.hexdigest() != match[3]:
                bad.append(f"{key}: content hashes to {digest.hexdigest()}")
            blobs[f"{match[1]}:{match[3]}"] = obj["Size"]
        elif key.endswith("/link"):
            links[key] = client.get_object(Bucket=s3.bucket, Key=obj["Key"])["Body"].read().decode()
        elif "/_uploads/" in key:
            uploads += 1
for key, target in links.items():
    if target not in blobs:
        dangling.append(f"{key} -> {target}")
print(json.dumps({"blobs": len(blobs), "bytes": sum(blobs.values()), "links": len(links), "bad": bad,
                  "dangling": dangling, "upload_objects": uploads}))
"""


def test_every_blob_matches_its_digest_and_every_link_its_blob(stack: Stack) -> None:
    reader = stack.wait_healthy("blob-read", 2)[0]
    report = stack.python_in(reader, CHECK, timeout=900)
    print(f"storage check: {report}")
    assert report["blobs"] > 0 and report["links"] > 0, "the other tests stored nothing?"
    assert report["bad"] == []
    assert report["dangling"] == []
