"""HDF5 files grown by atomic appends, safe against ``kill -9`` at any moment.

HDF5 cannot be appended to atomically: a process killed while it writes into a file can
leave it unreadable. A :class:`H5Store` therefore never writes into its main file. New
items go to small *part* files in a sibling folder (``features.h5.parts/00000001.h5``), each
written to a temporary name, flushed to disk (``fsync``) and renamed into place
(``os.replace``), so a part either exists complete or not at all. :meth:`H5Store.consolidate`
merges the parts into a copy of the main file and renames that copy over the main file in
one step, then deletes the parts. At every moment the main file and every part are whole
HDF5 files; a run killed anywhere loses at most the items it had not yet written, and the
next run picks up the parts it finds. When an item is stored again (an image replaced by
another file, a damaged record recomputed), the newest copy wins at the merge.

An *item* is a group holding datasets (an image's features, a pair's matches); its key is
the group's path in the file, e.g. ``"img.jpg"`` or ``"a.jpg/b.jpg"``. One writer per
store at a time.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np


class MetadataMismatchError(ValueError):
    """An existing file was written with a different configuration than the current run."""


class DiskFullError(OSError):
    """The disk filled up while the parts were merged; the parts are kept for the next run."""


@dataclass(frozen=True)
class Record:
    """One item to store.

    Attributes:
        key: the item's group path in the file, e.g. ``"img.jpg"`` or ``"a.jpg/b.jpg"``.
        datasets: dataset name -> array.
        attrs: dataset name -> attributes of that dataset (optional).
        group_attrs: attributes of the item's group (optional), e.g. a content hash.
    """

    key: str
    datasets: Mapping[str, np.ndarray]
    attrs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    group_attrs: Mapping[str, Any] = field(default_factory=dict)


def item_keys(f: h5py.File) -> set[str]:
    """Keys of all items (groups that directly hold at least one dataset) in an open file."""
    keys: set[str] = set()

    def visit(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Dataset):
            keys.add(name.rpartition("/")[0])

    f.visititems(visit)
    keys.discard("")
    return keys


def _open_readable(path: Path) -> h5py.File:
    """Open an HDF5 file for reading; an unreadable one is an error naming it and what to do."""
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise OSError(
            f"Cannot read {path}: it is truncated or damaged (HDF5 says: {err}). It was not written by "
            "this package's atomic writes (or the disk failed): delete it and run again."
        ) from err


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _publish(tmp: Path, target: Path) -> None:
    """Flush ``tmp`` to disk and rename it over ``target`` atomically."""
    _fsync_path(tmp)
    os.replace(tmp, target)
    _fsync_path(target.parent)


class H5Store:
    """An HDF5 file (``path``) plus its pending parts (``path.parts/``).

    Args:
        path: the main file, e.g. ``out/features.h5``.
        metadata: string attributes stored on the file's root (e.g. the configuration that
            produced it). When the file or a part already holds different values,
            :class:`MetadataMismatchError` is raised at construction.
    """

    def __init__(self, path: str | os.PathLike, metadata: Mapping[str, str] | None = None):
        self.path = Path(path)
        self.parts_dir = self.path.with_name(self.path.name + ".parts")
        self.metadata = dict(metadata or {})
        self._check_metadata()

    def _files(self) -> list[Path]:
        parts = sorted(self.parts_dir.glob("*.h5")) if self.parts_dir.is_dir() else []
        return ([self.path] if self.path.is_file() else []) + parts

    def _check_metadata(self) -> None:
        for file in self._files():
            with _open_readable(file) as f:
                for k, v in self.metadata.items():
                    old = f.attrs.get(k)
                    if old is not None and str(old) != v:
                        raise MetadataMismatchError(
                            f"{self.path} was written with {k}={old!r}, this run uses {v!r}. "
                            "Use another output folder or delete the file to start over."
                        )

    def keys(self) -> set[str]:
        """Keys of every stored item, in the main file or in a pending part."""
        keys: set[str] = set()
        for file in self._files():
            with _open_readable(file) as f:
                keys |= item_keys(f)
        return keys

    def append(self, records: Iterable[Record]) -> Path | None:
        """Store ``records`` as one new part, atomically. Returns the part (None if empty)."""
        records = list(records)
        if not records:
            return None
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        existing = [int(p.stem) for p in self.parts_dir.glob("*.h5") if p.stem.isdigit()]
        target = self.parts_dir / f"{max(existing, default=0) + 1:08d}.h5"
        tmp = _temp_name(target)
        try:
            with h5py.File(tmp, "w") as f:
                f.attrs.update(self.metadata)
                for rec in records:
                    group = f.require_group(rec.key)
                    group.attrs.update(dict(rec.group_attrs))
                    for name, array in rec.datasets.items():
                        dset = group.create_dataset(name, data=array)
                        dset.attrs.update(dict(rec.attrs.get(name, {})))
            _publish(tmp, target)
        except BaseException as err:
            tmp.unlink(missing_ok=True)
            _raise_if_disk_full(
                err, f"Disk full while storing results next to {self.path}: what was stored before is kept; "
                "free some space and run again to continue"
            )
            raise
        return target

    def consolidate(self, drop: Iterable[str] = ()) -> None:
        """Merge pending parts into the main file (atomically), delete them, drop ``drop``.

        Parts are merged in the order they were written and a newer copy of an item replaces
        the older one (a run killed between the rename and the deletion of the parts leaves
        identical duplicates; an item stored again is newer). Items whose key is in ``drop``
        are removed from the result. Stale temporary files of killed runs are removed.

        Raises:
            DiskFullError: no space left for the merged copy; the main file and the parts
                are left as they were, and a later call merges them.
        """
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            stale.unlink(missing_ok=True)
        if self.parts_dir.is_dir():
            for stale in self.parts_dir.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
        parts = sorted(self.parts_dir.glob("*.h5")) if self.parts_dir.is_dir() else []
        drop = set(drop)
        if drop and not parts and self.path.is_file():
            with h5py.File(self.path, "r") as f:
                drop &= item_keys(f)
        if parts or drop:
            tmp = _temp_name(self.path)
            try:
                if self.path.is_file():
                    shutil.copyfile(self.path, tmp)
                with h5py.File(tmp, "a") as dst:
                    dst.attrs.update(self.metadata)
                    present = item_keys(dst)
                    for key in sorted(drop & present):
                        _delete_item(dst, key)
                    for part in parts:
                        with h5py.File(part, "r") as src:
                            for key in sorted(item_keys(src) - drop):
                                if key in present:
                                    _delete_item(dst, key)
                                parent, _, leaf = key.rpartition("/")
                                dst_group = dst.require_group(parent) if parent else dst
                                src.copy(src[key], dst_group, name=leaf)
                                present.add(key)
                _publish(tmp, self.path)
            except BaseException as err:
                tmp.unlink(missing_ok=True)
                _raise_if_disk_full(
                    err, f"Disk full while merging results into {self.path}: nothing was lost, the new results "
                    f"stay in {self.parts_dir}/ and the next run merges them once there is space"
                )
                raise
            for part in parts:
                part.unlink()
        if self.parts_dir.is_dir() and not any(self.parts_dir.iterdir()):
            self.parts_dir.rmdir()


def _raise_if_disk_full(err: BaseException, message: str) -> None:
    """Raise :class:`DiskFullError` with ``message`` if ``err`` says the disk is full."""
    if isinstance(err, OSError) and (err.errno == errno.ENOSPC or "No space left" in str(err)):
        raise DiskFullError(errno.ENOSPC, message) from err


def _delete_item(f: h5py.File, key: str) -> None:
    """Delete the item ``key`` and the parent groups it leaves empty."""
    del f[key]
    parent = key.rpartition("/")[0]
    while parent and len(f[parent]) == 0:
        del f[parent]
        parent = parent.rpartition("/")[0]
