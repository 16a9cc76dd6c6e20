"""Local snapshots of the partition engines, so a worker gaining a partition folds only the log's tail.

Like a Kafka Streams state store with its changelog: the work topic stays the source of truth, and a snapshot is
a checkpoint of its fold at an offset. A worker writes one for a partition every N work messages (atomically:
temporary file, fsync, rename; the one before is kept as `.prev`). A worker gaining the partition at offset O
restores the newest snapshot taken at an offset <= O by the same engine code (`monitor.codeversion`) and the same
configuration, then reads only [snapshot offset, O) from the work topic. Anything else (no snapshot, a newer one
than O, other code, a damaged file) is a full rebuild from offset 0, as before: a snapshot only ever saves time.

The file: MAGIC, a 4-byte header length, a JSON header (offset, code, config, partition, written_at), the blob.
Pickled state, so only read what this code wrote to its own data folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from monitor.codeversion import code_version
from streams.settings import StreamSettings

MAGIC = b"SMONSNAP1\n"


@dataclass(frozen=True, slots=True)
class Snapshot:
    offset: int  # the next work offset after the state it holds
    blob: bytes
    path: Path


def config_key(s: StreamSettings) -> str:
    """What besides the code shapes a partition's fold: policy, register file, partition count, lateness."""
    h = hashlib.blake2b(digest_size=12)
    for part in (s.policy, str(s.partitions), str(s.lateness.total_seconds()), s.topic_prefix):
        h.update(part.encode() + b"\0")
    for f in (s.directory, Path(s.policy)):
        if f is not None and f.is_file():
            h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


class SnapshotStore:
    """The snapshot files of one app's work topic in `data_dir/snapshots`."""

    def __init__(self, s: StreamSettings, topic: str) -> None:
        self.dir = s.data_dir / "snapshots"
        self.app_id, self.topic = s.app_id, topic
        self.code, self.config = code_version(), config_key(s)

    def path(self, partition: int) -> Path:
        return self.dir / f"{self.app_id}-{self.topic}-p{partition}.snap"

    def previous(self, partition: int) -> Path:
        """Where the snapshot before the newest one is kept."""
        path = self.path(partition)
        return path.with_name(path.name + ".prev")

    def write(self, partition: int, offset: int, blob: bytes) -> Path:
        """Store the state at `offset` (the next offset it expects), keeping the previous file as `.prev`."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.path(partition)
        header = json.dumps({"offset": offset, "code": self.code, "config": self.config, "partition": partition,
                             "written_at": time.time()}).encode()  # fmt: skip
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(MAGIC + len(header).to_bytes(4, "big") + header)
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.replace(path, self.previous(partition))
        os.replace(tmp, path)
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return path

    @staticmethod
    def _header(fh: BinaryIO) -> dict[str, Any] | None:
        """The header of an open snapshot file, leaving the file at its blob; None if it is not one."""
        if fh.read(len(MAGIC)) != MAGIC:
            return None
        size = int.from_bytes(fh.read(4), "big")
        try:
            header = json.loads(fh.read(size))
        except ValueError:
            return None
        return header if isinstance(header, dict) else None

    def best(self, partition: int, upto: int) -> Snapshot | None:
        """The newest usable snapshot of the partition taken at an offset <= `upto`.

        Only the chosen file's blob is read (a 100k-account partition's is 65 MB): each file is opened and its
        header read, then the blob from the same open file, so a snapshot written meanwhile cannot mix in.
        """
        with contextlib.ExitStack() as files:
            found: list[tuple[int, Path, BinaryIO]] = []
            for p in (self.path(partition), self.previous(partition)):
                try:
                    fh = files.enter_context(open(p, "rb"))
                    header = self._header(fh)
                except OSError:
                    continue
                if header is None:
                    continue
                offset = header.get("offset")
                same = (header.get("code"), header.get("config"), header.get("partition")) == (
                    self.code, self.config, partition)  # fmt: skip
                if same and isinstance(offset, int) and 0 < offset <= upto:
                    found.append((offset, p, fh))
            if not found:
                return None
            at, chosen, blob_file = max(found, key=lambda f: f[0])
            try:
                return Snapshot(at, blob_file.read(), chosen)
            except OSError:
                return None
