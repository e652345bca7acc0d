"""Upstream's module name for parse_oss_uri, identity and
imagenet_manifest_parser, kept importable for user code written against
upstream. They live in _oss_client (the URI parser), _dataset_common (the
default transform) and _sources (the manifest parser)."""

from ._dataset_common import identity
from ._oss_client import parse_oss_uri
from ._sources import imagenet_manifest_parser

__all__ = ["parse_oss_uri", "identity", "imagenet_manifest_parser"]
