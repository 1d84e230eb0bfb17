"""Manifests, tags, catalog and referrers, on top of the linked blob stores (DESIGN §3.7).

- :mod:`.mediatypes` the manifest media types; :mod:`.parser` validation (pure); :mod:`.reference` tag-or-digest;
- :mod:`.store` one repository's manifests (put / get / delete), with :mod:`.tags` and :mod:`.referrers`;
- :mod:`.catalog` the repository walk; :mod:`.pagination` ``n`` / ``last``.
"""

from __future__ import annotations

from registry_core.manifests.catalog import list_repositories
from registry_core.manifests.pagination import MAX_PAGE, Page, page_after, parse_page_size
from registry_core.manifests.parser import MAX_MANIFEST_SIZE, ContentDescriptor, Manifest, parse_manifest
from registry_core.manifests.reference import Reference, parse_digest, parse_lookup, parse_reference
from registry_core.manifests.referrers import ReferrerDescriptor, ReferrerIndex
from registry_core.manifests.store import ManifestStore, PutResult, StoredManifest
from registry_core.manifests.tags import TagStore

__all__ = [
    "MAX_MANIFEST_SIZE",
    "MAX_PAGE",
    "ContentDescriptor",
    "Manifest",
    "ManifestStore",
    "Page",
    "PutResult",
    "Reference",
    "ReferrerDescriptor",
    "ReferrerIndex",
    "StoredManifest",
    "TagStore",
    "list_repositories",
    "page_after",
    "parse_digest",
    "parse_lookup",
    "parse_manifest",
    "parse_page_size",
    "parse_reference",
]
