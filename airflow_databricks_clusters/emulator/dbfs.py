"""DBFS, the workspace's file system behind the DBFS API (``/api/2.0/dbfs/...``): an in-memory file tree.

Files and directories are indexed by their absolute path, and each directory keeps the names of its
entries, so a call costs the same however many files the tree holds: a listing touches the directory's
own entries, a recursive delete or a move the subtree it names. Paths are taken with or without the
``dbfs:`` scheme and answered without it. Times come from the workspace's clock (``modification_time``,
epoch ms; a directory's is 0, as a workspace lists them). Streams (``create`` / ``add-block`` / ``close``)
write the file at ``close``; a stream idle for 10 minutes of the clock is gone. No HTTP here (``app.py``
serves it); the limits and error answers are a workspace's (docs/emulator-fidelity.md, "DBFS").
"""

from __future__ import annotations

import base64
import binascii
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_databricks_clusters.emulator.api_errors import ApiError, invalid_parameter
from airflow_databricks_clusters.emulator.request_params import integer, one

#: The most ``put`` takes inline (``contents``), one ``add-block`` takes, and one ``read`` answers: 1 MB.
MAX_BLOCK_BYTES = 1024 * 1024
#: What ``read`` answers without a ``length``: 0.5 MB.
DEFAULT_READ_BYTES = 512 * 1024
#: A stream's handle is gone after this many seconds without a call.
HANDLE_IDLE_SECONDS = 600.0
#: The emulator's own cap on the bytes it holds (files and open streams): the state file carries every
#: file, so it must stay small. A workspace has no such cap.
MAX_TOTAL_BYTES = 32 * 1024 * 1024


def already_exists(path: str) -> ApiError:
    return ApiError(
        400, "RESOURCE_ALREADY_EXISTS", f"A file or directory already exists at the input path {path}."
    )


def does_not_exist(path: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"No file or directory exists on path {path}.")


def normalize(path: Any, field: str = "path") -> str:
    """The absolute path ``/a/b`` of ``dbfs:/a/b``, ``/a/b`` or ``/a/b/``; INVALID_PARAMETER_VALUE for a
    missing, relative or otherwise bad one, naming ``field``."""
    if path is None or path == "":
        raise invalid_parameter(f"Missing required field: {field}")
    if not isinstance(path, str):
        raise invalid_parameter(f"Invalid {field} {path!r}: must be a string, an absolute DBFS path.")
    text = path[len("dbfs:") :] if path.startswith("dbfs:") else path
    if not text.startswith("/") or text.startswith("//"):
        raise invalid_parameter(
            f"Invalid {field} {path}: must be an absolute DBFS path such as /tmp/file or dbfs:/tmp/file."
        )
    parts = [part for part in text.split("/") if part]
    if any(part in (".", "..") for part in parts) or "\x00" in text:
        raise invalid_parameter(f"Invalid {field} {path}: '.', '..' and NUL are not allowed in a path.")
    return "/" + "/".join(parts)


def parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _child(directory: str, name: str) -> str:
    return f"{directory.rstrip('/')}/{name}"


def flag(value: Any, field: str) -> bool:
    """A boolean parameter: JSON true/false, or the text a query string or a form carries."""
    value = one(value)
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid_parameter(f"Invalid {field} {str(value)[:40]!r}: must be true or false.")


def decode(value: Any, field: str) -> bytes:
    """Base64 text -> bytes; INVALID_PARAMETER_VALUE naming ``field`` if it is not base64."""
    if not isinstance(value, str):
        raise invalid_parameter(f"Invalid {field}: must be base64-encoded text.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_parameter(f"Invalid {field}: not valid base64.") from None


@dataclass
class _Entry:
    is_dir: bool
    mtime: int  # epoch ms; 0 for a directory
    data: bytes = b""


@dataclass
class _Stream:
    path: str  # normalized
    given: str  # as the client named it, for error messages
    overwrite: bool
    last_used: float
    data: bytearray


class Dbfs:
    """The workspace's DBFS. Thread-safe; each API method takes the request's parameters and returns its
    JSON answer, raising ``ApiError`` as a workspace answers.

    :param clock: the workspace's clock (epoch seconds).
    :param max_total_bytes: the emulator's cap on the bytes held (files and open streams).
    """

    def __init__(self, clock: Callable[[], float], *, max_total_bytes: int = MAX_TOTAL_BYTES) -> None:
        self.clock = clock
        self.max_total_bytes = max_total_bytes
        self.lock = threading.RLock()
        self._entries: dict[str, _Entry] = {"/": _Entry(is_dir=True, mtime=0)}
        #: directory -> its entries' names (a dict as an ordered set).
        self._children: dict[str, dict[str, None]] = {"/": {}}
        #: open streams, least recently used first (expired ones are dropped from the front).
        self._streams: OrderedDict[int, _Stream] = OrderedDict()
        self._handles = itertools.count(1)
        self._bytes = 0
        #: Called after every change to the tree (the server saves its state file through it).
        self.on_change: Callable[[], None] | None = None

    # -- the API -------------------------------------------------------------------------------------------

    def put(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST dbfs/put``: a whole file at once, ``contents`` (base64, at most 1 MB) or a multipart
        ``file`` (bytes, as ``app.py`` hands it over)."""
        given = params.get("path")
        path = normalize(given)
        overwrite = flag(params.get("overwrite"), "overwrite")
        upload = params.get("file")
        if isinstance(upload, bytes):
            data = upload
        else:
            data = decode(params.get("contents") or "", "contents")
            if len(data) > MAX_BLOCK_BYTES:
                raise ApiError(
                    400,
                    "MAX_BLOCK_SIZE_EXCEEDED",
                    f"The 'contents' data cannot exceed {MAX_BLOCK_BYTES} bytes. Found: {len(data)} bytes. "
                    "You might want to use streaming upload instead.",
                )
        with self.lock:
            self._write(path, str(given), data, overwrite=overwrite)
        self._changed()
        return {}

    def create(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST dbfs/create``: a stream to the file, its ``handle``. The file is written at ``close``."""
        given = params.get("path")
        path = normalize(given)
        overwrite = flag(params.get("overwrite"), "overwrite")
        with self.lock:
            now = self.clock()
            self._expire(now)
            self._check_writable(path, str(given), overwrite=overwrite)
            handle = next(self._handles)
            self._streams[handle] = _Stream(path, str(given), overwrite, now, bytearray())
            return {"handle": handle}

    def add_block(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST dbfs/add-block``: append ``data`` (base64, at most 1 MB) to the stream."""
        with self.lock:
            _, stream = self._stream(params.get("handle"))
            data = decode(params.get("data"), "data")
            if len(data) > MAX_BLOCK_BYTES:
                raise ApiError(
                    400,
                    "MAX_BLOCK_SIZE_EXCEEDED",
                    f"The block of data cannot exceed {MAX_BLOCK_BYTES} bytes. Found: {len(data)} bytes.",
                )
            self._reserve(len(data))
            stream.data += data
            self._bytes += len(data)
            return {}

    def close(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST dbfs/close``: the stream's file is written, the handle gone."""
        with self.lock:
            handle, stream = self._stream(params.get("handle"))
            del self._streams[handle]
            self._bytes -= len(stream.data)
            self._write(stream.path, stream.given, bytes(stream.data), overwrite=stream.overwrite)
        self._changed()
        return {}

    def get_status(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET dbfs/get-status``."""
        given = one(params.get("path"))
        path = normalize(given)
        with self.lock:
            entry = self._entries.get(path)
            if entry is None:
                raise does_not_exist(str(given))
            return _info(path, entry)

    def list_status(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET dbfs/list``: a directory's entries by name (``files`` left out when there is none), or a
        file's own status."""
        given = one(params.get("path"))
        path = normalize(given)
        with self.lock:
            entry = self._entries.get(path)
            if entry is None:
                raise does_not_exist(str(given))
            if not entry.is_dir:
                return {"files": [_info(path, entry)]}
            names = sorted(self._children[path])
            files = [_info(_child(path, name), self._entries[_child(path, name)]) for name in names]
            return {"files": files} if files else {}

    def read(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET dbfs/read``: ``length`` bytes (default 0.5 MB, at most 1 MB) from ``offset``, fewer at the
        end of the file; ``bytes_read`` and base64 ``data``."""
        given = one(params.get("path"))
        path = normalize(given)
        offset = integer(one(params.get("offset")), "offset", default=0)
        length = integer(one(params.get("length")), "length", default=DEFAULT_READ_BYTES)
        if offset < 0:
            raise invalid_parameter(f"Invalid offset {offset}: must not be negative.")
        if length < 0:
            raise invalid_parameter(f"Invalid length {length}: must not be negative.")
        if length > MAX_BLOCK_BYTES:
            raise ApiError(
                400,
                "MAX_READ_SIZE_EXCEEDED",
                f"Cannot read more than {MAX_BLOCK_BYTES} bytes at once. Requested: {length} bytes.",
            )
        with self.lock:
            entry = self._entries.get(path)
            if entry is None:
                raise does_not_exist(str(given))
            if entry.is_dir:
                raise invalid_parameter(f"Cannot read {given}: it is a directory.")
            chunk = entry.data[offset : offset + length]
        return {"bytes_read": len(chunk), "data": base64.b64encode(chunk).decode()}

    def mkdirs(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST dbfs/mkdirs``: the directory and its missing parents; RESOURCE_ALREADY_EXISTS if a file is
        at the path or any prefix of it."""
        given = params.get("path")
        path = normalize(given)
        with self.lock:
            self._mkdirs(path, str(given))
        self._changed()
        return {}

    def move(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST dbfs/move``: a file, or a directory with everything under it."""
        source_given, target_given = params.get("source_path"), params.get("destination_path")
        source = normalize(source_given, "source_path")
        target = normalize(target_given, "destination_path")
        with self.lock:
            if source not in self._entries:
                raise does_not_exist(str(source_given))
            if source == "/":
                raise invalid_parameter("Invalid source_path /: the root directory cannot be moved.")
            if target in self._entries:
                raise already_exists(str(target_given))
            if target.startswith(source + "/"):
                raise invalid_parameter(
                    f"Invalid destination_path {target_given}: a directory cannot move into itself."
                )
            self._mkdirs(parent(target), str(target_given))
            moved = [(path, self._entries[path]) for path in self._subtree(source)]
            self._unlink(source)
            for path, entry in moved:
                new = target + path[len(source) :]
                self._entries[new] = entry
                self._bytes += len(entry.data)  # _unlink counted them as gone
                if entry.is_dir:
                    self._children[new] = {}
                self._children[parent(new)][new.rsplit("/", 1)[1]] = None
        self._changed()
        return {}

    def delete(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``POST dbfs/delete``: a file, an empty directory, or with ``recursive`` a whole directory. A path
        that does not exist is no error."""
        given = params.get("path")
        path = normalize(given)
        recursive = flag(params.get("recursive"), "recursive")
        with self.lock:
            entry = self._entries.get(path)
            if entry is None:
                return {}
            if path == "/":
                raise invalid_parameter("Invalid path /: the root directory cannot be deleted.")
            if entry.is_dir and self._children[path] and not recursive:
                raise ApiError(400, "IO_ERROR", f"Path is a folder: {path} and it is not an empty directory")
            self._unlink(path)
        self._changed()
        return {}

    # -- what the workspace itself reads and writes --------------------------------------------------------

    def find_file(self, path: str) -> bytes | None:
        """A file's bytes (``path`` with or without ``dbfs:``), None if there is no such file (or ``path``
        is not a DBFS path)."""
        try:
            key = normalize(path)
        except ApiError:
            return None
        with self.lock:
            entry = self._entries.get(key)
            return None if entry is None or entry.is_dir else entry.data

    def write_file(self, path: str, data: bytes) -> None:
        """Write a whole file, its parents made, any file there replaced (log delivery, during a cluster's
        transition: the workspace saves its state after it, so this does not). ApiError if a file sits
        where a directory is needed, or beyond the cap."""
        with self.lock:
            self._write(normalize(path), path, data, overwrite=True)

    def total_bytes(self) -> int:
        """The bytes held now: files and open streams."""
        with self.lock:
            return self._bytes

    # -- the tree ------------------------------------------------------------------------------------------

    def _stream(self, handle: Any) -> tuple[int, _Stream]:
        """The open stream ``handle`` names, and its number; RESOURCE_DOES_NOT_EXIST if there is none."""
        handle = one(handle)
        if handle is None or handle == "":
            raise invalid_parameter("Missing required field: handle")
        number = integer(handle, "handle", default=0)
        now = self.clock()
        self._expire(now)
        stream = self._streams.get(number)
        if stream is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Handle {number} does not exist or has expired.")
        stream.last_used = now
        self._streams.move_to_end(number)
        return number, stream

    def _expire(self, now: float) -> None:
        """Drop the streams idle for ``HANDLE_IDLE_SECONDS``: they are the least recently used ones."""
        while self._streams:
            handle, stream = next(iter(self._streams.items()))
            if now - stream.last_used < HANDLE_IDLE_SECONDS:
                return
            del self._streams[handle]
            self._bytes -= len(stream.data)

    def _reserve(self, more: int) -> None:
        if self._bytes + more > self.max_total_bytes:
            raise ApiError(
                400,
                "RESOURCE_LIMIT_EXCEEDED",
                f"The emulator holds at most {self.max_total_bytes} bytes of DBFS data (files and open "
                f"streams); {self._bytes} are held and {more} more were sent. Delete files to make room.",
            )

    def _check_writable(self, path: str, given: str, *, overwrite: bool) -> None:
        """RESOURCE_ALREADY_EXISTS if a directory is at ``path``, a file is there and ``overwrite`` is not
        set, or a file is at a prefix of it (where a directory would be needed)."""
        entry = self._entries.get(path)
        if entry is not None and (entry.is_dir or not overwrite):
            raise already_exists(given)
        ancestor = parent(path)
        while ancestor != "/" and ancestor not in self._entries:
            ancestor = parent(ancestor)
        if not self._entries[ancestor].is_dir:
            raise already_exists(given)

    def _write(self, path: str, given: str, data: bytes, *, overwrite: bool) -> None:
        if path == "/":
            raise already_exists(given)
        self._check_writable(path, given, overwrite=overwrite)
        old = self._entries.get(path)
        self._reserve(len(data) - (len(old.data) if old else 0))
        self._mkdirs(parent(path), given)
        self._bytes += len(data) - (len(old.data) if old else 0)
        self._entries[path] = _Entry(is_dir=False, mtime=int(self.clock() * 1000), data=data)
        self._children[parent(path)][path.rsplit("/", 1)[1]] = None

    def _mkdirs(self, path: str, given: str) -> None:
        missing: list[str] = []
        at = path
        while at not in self._entries:
            missing.append(at)
            at = parent(at)
        if not self._entries[at].is_dir:
            raise already_exists(given)
        for directory in reversed(missing):
            self._entries[directory] = _Entry(is_dir=True, mtime=0)
            self._children[directory] = {}
            self._children[parent(directory)][directory.rsplit("/", 1)[1]] = None

    def _subtree(self, path: str) -> list[str]:
        """``path`` and everything under it, parents before their entries."""
        found, index = [path], 0
        while index < len(found):
            current = found[index]
            found.extend(_child(current, name) for name in self._children.get(current, ()))
            index += 1
        return found

    def _unlink(self, path: str) -> None:
        """Remove ``path`` and everything under it."""
        for each in self._subtree(path):
            entry = self._entries.pop(each)
            self._children.pop(each, None)
            self._bytes -= len(entry.data)
        del self._children[parent(path)][path.rsplit("/", 1)[1]]

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # -- persistence ---------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Every file and directory (not the open streams: a handle does not outlive the process)."""
        with self.lock:
            return {
                "entries": {
                    path: {"is_dir": True}
                    if entry.is_dir
                    else {"mtime": entry.mtime, "data": base64.b64encode(entry.data).decode()}
                    for path, entry in self._entries.items()
                    if path != "/"
                }
            }

    def load_json(self, data: Mapping[str, Any]) -> None:
        with self.lock:
            # Sorted, so a directory comes before its entries.
            for path, saved in sorted(dict(data.get("entries", {})).items()):
                if saved.get("is_dir"):
                    self._mkdirs(path, path)
                    continue
                content = base64.b64decode(saved.get("data", ""))
                self._mkdirs(parent(path), path)
                self._entries[path] = _Entry(is_dir=False, mtime=int(saved.get("mtime", 0)), data=content)
                self._children[parent(path)][path.rsplit("/", 1)[1]] = None
                self._bytes += len(content)


def _info(path: str, entry: _Entry) -> dict[str, Any]:
    return {
        "path": path,
        "is_dir": entry.is_dir,
        "file_size": len(entry.data),
        "modification_time": entry.mtime,
    }
