"""Nested settings (a config's JSON, an index's embedding.json, an ml_collections.ConfigDict) as
one flat mapping of dotted names, so two of them can be compared field by field."""

from __future__ import annotations

from typing import Any


def flatten(tree, prefix: str = "") -> dict[str, Any]:
  """{"a": {"b": 1}, "c": 2} -> {"a.b": 1, "c": 2}, in the tree's order. A branch is anything with
  `.items()` (a dict, a ConfigDict); every other value is a leaf."""
  out = {}
  for key, value in tree.items():
    if hasattr(value, "items"):
      out.update(flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out
