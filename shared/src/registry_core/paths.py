"""THE storage layout. Nothing else in the project builds a storage path.

Byte for byte the Go registry's (``registry/storage/paths.go``), so a root written by either registry is
served by the other::

    /docker/registry/v2/
    ├── blobs/<alg>/<hex[0:2]>/<hex>/data                                 blob bytes (manifests too)
    └── repositories/<name>/
        ├── _layers/<alg>/<hex>/link                                      "<alg>:<hex>": blob linked here
        ├── _manifests/revisions/<alg>/<hex>/link                         manifest present here
        ├── _manifests/tags/<tag>/current/link                            tag -> manifest digest
        ├── _manifests/tags/<tag>/index/<alg>/<hex>/link                  the tag's history
        ├── _uploads/<id>/data                                            upload bytes so far
        ├── _uploads/<id>/startedat                                       RFC 3339 start time
        ├── _uploads/<id>/hashstates/<alg>/<offset>                       saved hash state
        └── _referrers/subjects/<alg>/<hex>/<ralg>/<rhex>/link            ours: manifests that refer to a subject
    └── _gc/                                                              ours: online GC (docs/online-gc.md)
        ├── claims/<unix-ns>-<uuid>                                       a writer's claim
        ├── runs/<run>/started, runs/<run>/heartbeat                      a collector pass and its liveness
        ├── deleting/digests/<run>-<alg>-<hex>                            a collector's tombstone for a digest
        └── deleting/tags/<run>-<uuid>                                    ... for a tag (repository and tag inside)

The Go registry has no place for referrers. ``_referrers`` lives beside its directories: its catalog and
garbage collector skip directories that start with ``_``, so it ignores ours.

Digests and names reach this module already validated (:mod:`registry_core.digest`,
:mod:`registry_core.names`); :class:`~registry_core.storage.base.CheckedDriver` checks every path again.
"""

from __future__ import annotations

from registry_core.digest import Digest

ROOT = "/docker/registry/v2"
BLOBS = f"{ROOT}/blobs"
REPOSITORIES = f"{ROOT}/repositories"


def blob_dir(d: Digest) -> str:
    return f"{BLOBS}/{d.algorithm}/{d.hex[:2]}/{d.hex}"


def blob_data(d: Digest) -> str:
    return f"{blob_dir(d)}/data"


def repository(name: str) -> str:
    return f"{REPOSITORIES}/{name}"


def layers(name: str) -> str:
    return f"{repository(name)}/_layers"


def layer_link(name: str, d: Digest) -> str:
    return f"{layers(name)}/{d.algorithm}/{d.hex}/link"


def manifests(name: str) -> str:
    return f"{repository(name)}/_manifests"


def manifest_revisions(name: str) -> str:
    return f"{manifests(name)}/revisions"


def manifest_revision_link(name: str, d: Digest) -> str:
    return f"{manifest_revisions(name)}/{d.algorithm}/{d.hex}/link"


def tags(name: str) -> str:
    return f"{manifests(name)}/tags"


def tag_dir(name: str, tag: str) -> str:
    return f"{tags(name)}/{tag}"


def tag_current_link(name: str, tag: str) -> str:
    return f"{tag_dir(name, tag)}/current/link"


def tag_index(name: str, tag: str) -> str:
    return f"{tag_dir(name, tag)}/index"


def tag_index_link(name: str, tag: str, d: Digest) -> str:
    return f"{tag_index(name, tag)}/{d.algorithm}/{d.hex}/link"


def uploads(name: str) -> str:
    return f"{repository(name)}/_uploads"


def upload_dir(name: str, upload_id: str) -> str:
    return f"{uploads(name)}/{upload_id}"


def upload_data(name: str, upload_id: str) -> str:
    return f"{upload_dir(name, upload_id)}/data"


def upload_started_at(name: str, upload_id: str) -> str:
    return f"{upload_dir(name, upload_id)}/startedat"


def upload_hash_states(name: str, upload_id: str, algorithm: str) -> str:
    return f"{upload_dir(name, upload_id)}/hashstates/{algorithm}"


def upload_hash_state(name: str, upload_id: str, algorithm: str, offset: int) -> str:
    return f"{upload_hash_states(name, upload_id, algorithm)}/{offset}"


def referrers(name: str, subject: Digest) -> str:
    return f"{repository(name)}/_referrers/subjects/{subject.algorithm}/{subject.hex}"


def referrer_link(name: str, subject: Digest, referrer: Digest) -> str:
    return f"{referrers(name, subject)}/{referrer.algorithm}/{referrer.hex}/link"


# -- online garbage collection (ours; docs/online-gc.md): claims by writers, tombstones by collectors -----------------
GC = f"{ROOT}/_gc"
GC_CLAIMS = f"{GC}/claims"
GC_RUNS = f"{GC}/runs"
GC_DELETING = f"{GC}/deleting"
GC_DELETING_DIGESTS = f"{GC_DELETING}/digests"
GC_DELETING_TAGS = f"{GC_DELETING}/tags"


def gc_claim(name: str) -> str:
    return f"{GC_CLAIMS}/{name}"


def gc_run(run: str) -> str:
    return f"{GC_RUNS}/{run}"


def gc_run_started(run: str) -> str:
    return f"{gc_run(run)}/started"


def gc_run_heartbeat(run: str) -> str:
    return f"{gc_run(run)}/heartbeat"


def gc_digest_tombstone(d: Digest, run: str) -> str:
    """Flat (no directory per digest): removing a tombstone never leaves, or races to remove, a directory."""
    return f"{GC_DELETING_DIGESTS}/{run}-{d.algorithm}-{d.hex}"


def gc_tag_tombstone(run: str, key: str) -> str:
    """A file holding the repository and the tag (a repository name has ``/`` in it: it cannot be a file name)."""
    return f"{GC_DELETING_TAGS}/{run}-{key}"
