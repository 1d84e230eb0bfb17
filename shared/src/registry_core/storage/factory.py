"""Name -> driver, built from the storage settings; every driver comes wrapped in :class:`CheckedDriver`.

The S3 driver (and boto3) is imported only when configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from registry_core.storage.base import CheckedDriver
from registry_core.storage.driver import StorageDriver

if TYPE_CHECKING:
    from registry_core.config import StorageSettings


def create_driver(storage: StorageSettings) -> StorageDriver:
    match storage.driver:
        case "inmemory":
            from registry_core.storage.inmemory import InMemoryDriver

            return CheckedDriver(InMemoryDriver())
        case "filesystem":
            from registry_core.storage.filesystem import FilesystemDriver

            fs = storage.filesystem
            assert fs is not None
            return CheckedDriver(FilesystemDriver(fs.rootdirectory, max_threads=fs.maxthreads))
        case "s3":
            from registry_core.storage.s3 import S3Driver

            s3 = storage.s3
            assert s3 is not None
            driver = S3Driver(
                bucket=s3.bucket,
                region=s3.region,
                regionendpoint=s3.regionendpoint,
                rootdirectory=s3.rootdirectory,
                chunksize=s3.chunksize,
                accesskey=s3.accesskey,
                secretkey=s3.secretkey,
                sessiontoken=s3.sessiontoken,
                secure=s3.secure,
                forcepathstyle=s3.forcepathstyle,
                skipverify=s3.skipverify,
                max_concurrency=s3.maxconcurrency,
            )
            driver.copy_threshold = s3.multipartcopythresholdsize  # moves (upload commits) larger than this...
            driver.copy_part_size = s3.multipartcopychunksize  # ...copy in parts of this size
            return CheckedDriver(driver)
    raise ValueError(f"unknown storage driver {storage.driver!r}")
