"""The keys of a flag store's namespace: what ``route purge`` deletes once the project is finalized."""

from __future__ import annotations

from saqmigrate.runtime import flags as F


def namespace_keys(store: F.FlagStore) -> list[str]:
    """Every key under ``<namespace>:*`` (flags, audit, claims, ramp plans, outcomes), the namespace
    matched literally (a ``*`` in it is not a wildcard)."""
    ns = store.keys.namespace
    pattern = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in ns) + ":*"
    return sorted(set(store.client.scan_iter(pattern, count=1000)))


def delete_keys(store: F.FlagStore, keys: list[str], batch: int = 500) -> int:
    """Delete ``keys`` from the flag store's Redis in batches; returns how many were asked for."""
    for i in range(0, len(keys), batch):
        store.client.delete(*keys[i : i + batch])
    return len(keys)
