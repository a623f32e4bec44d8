"""Real DBFS clients run unchanged against the emulator: databricks-sdk's ``w.dbfs`` (its streamed
upload in 1 MB blocks, its chunked download) and the legacy databricks-cli 0.18's ``fs`` commands (its
multipart form upload, its 1 MB reads).

No cluster is involved, so the clock never matters; the workspaces are the stopped-clock ones.
"""

from __future__ import annotations

import base64
import io
import os
import random
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import DatabricksError, NotFound, ResourceAlreadyExists

from airflow_databricks_clusters.emulator import Emulator
from tests.conformance.test_legacy_cli import LegacyCli, cli, emu80  # noqa: F401 (fixtures)

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def no_databricks_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own ``DATABRICKS_*`` settings must not reach the SDK."""
    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def calls(emu: Emulator, verb: str) -> int:
    return sum(1 for r in emu.request_log if r["path"] == f"/api/2.0/dbfs/{verb}")


def test_sdk_uploads_a_large_file_in_blocks_and_downloads_it(emu: Emulator) -> None:
    w = WorkspaceClient(host=emu.url, token=emu.token, auth_type="pat")
    data = payload(2 * MB + 123, seed=1)
    w.dbfs.mkdirs("/sdk/in")
    w.dbfs.upload("/sdk/in/big.bin", io.BytesIO(data))
    assert calls(emu, "add-block") == 3  # the SDK's 1 MB blocks, each within the workspace's limit
    assert w.dbfs.download("dbfs:/sdk/in/big.bin").read() == data
    status = w.dbfs.get_status("/sdk/in/big.bin")
    assert (status.file_size, status.is_dir) == (len(data), False)
    assert status.modification_time == int(emu.clock.now() * 1000)

    with pytest.raises(ResourceAlreadyExists, match="already exists at the input path"):
        w.dbfs.upload("/sdk/in/big.bin", io.BytesIO(b"again"))
    w.dbfs.upload("/sdk/in/big.bin", io.BytesIO(b"again"), overwrite=True)
    assert w.dbfs.download("/sdk/in/big.bin").read() == b"again"


def test_sdk_lists_moves_and_deletes(emu: Emulator) -> None:
    w = WorkspaceClient(host=emu.url, token=emu.token, auth_type="pat")
    w.dbfs.put("/sdk/tree/a.txt", contents=base64.b64encode(b"a").decode())
    w.dbfs.put("/sdk/tree/sub/b.txt", contents=base64.b64encode(b"bb").decode(), overwrite=True)
    assert sorted(f.path for f in w.dbfs.list("/sdk/tree")) == ["/sdk/tree/a.txt", "/sdk/tree/sub"]
    deep = {f.path: f.file_size for f in w.dbfs.list("dbfs:/sdk/tree", recursive=True)}
    assert deep == {"/sdk/tree/a.txt": 1, "/sdk/tree/sub/b.txt": 2}

    w.dbfs.move_("dbfs:/sdk/tree/sub", "dbfs:/sdk/moved")
    assert w.dbfs.exists("/sdk/moved/b.txt") and not w.dbfs.exists("/sdk/tree/sub")
    with pytest.raises(IOError, match="recursive"):
        w.dbfs.delete("/sdk/tree")  # the SDK's own guard, from get-status's is_dir
    with pytest.raises(DatabricksError) as refused:
        w.dbfs._dbfs_api.delete("/sdk/tree")  # what the workspace answers without that guard
    assert refused.value.error_code == "IO_ERROR"
    w.dbfs.delete("/sdk/tree", recursive=True)
    with pytest.raises(NotFound):
        w.dbfs.get_status("/sdk/tree")


def test_sdk_sees_the_workspaces_limits(emu: Emulator) -> None:
    w = WorkspaceClient(host=emu.url, token=emu.token, auth_type="pat")
    with pytest.raises(DatabricksError) as too_big:
        w.dbfs.put("/sdk/limits/big", contents=base64.b64encode(b"x" * (MB + 1)).decode())
    assert too_big.value.error_code == "MAX_BLOCK_SIZE_EXCEEDED"
    w.dbfs.put("/sdk/limits/small", contents=base64.b64encode(b"abc").decode())
    with pytest.raises(DatabricksError) as too_long:
        w.dbfs.read("/sdk/limits/small", length=MB + 1)
    assert too_long.value.error_code == "MAX_READ_SIZE_EXCEEDED"
    answer = w.dbfs.read("/sdk/limits/small", offset=1)
    assert (answer.bytes_read, base64.b64decode(answer.data or "")) == (2, b"bc")


def test_legacy_cli_fs_commands(cli: LegacyCli, emu80: Emulator, tmp_path: Path) -> None:  # noqa: F811
    # Each command is a process start of about half a second: the checks read the workspace directly
    # wherever a command's output is not what is tested.
    big = tmp_path / "big.bin"
    big.write_bytes(payload(MB + MB // 2, seed=2))  # over 1 MB: one multipart put up, two reads down
    notes = tmp_path / "notes.txt"
    notes.write_text("line one\nline two\n")

    cli.ok("fs", "mkdirs", "dbfs:/cli/in")
    cli.ok("fs", "cp", str(big), "dbfs:/cli/in/big.bin")
    cli.ok("fs", "cp", str(notes), "dbfs:/cli/in/")  # into a directory: the file keeps its name
    assert calls(emu80, "put") == 2 and calls(emu80, "add-block") == 0
    listed = [line.split() for line in cli.ok("fs", "ls", "-l", "--absolute", "dbfs:/cli/in").splitlines()]
    assert [row[:3] for row in listed] == [
        ["file", str(big.stat().st_size), "dbfs:/cli/in/big.bin"],
        ["file", str(notes.stat().st_size), "dbfs:/cli/in/notes.txt"],
    ]
    assert cli.ok("fs", "cat", "dbfs:/cli/in/notes.txt") == "line one\nline two\n"

    back = tmp_path / "back.bin"
    cli.ok("fs", "cp", "dbfs:/cli/in/big.bin", str(back))
    assert back.read_bytes() == big.read_bytes()

    refused = cli.error("fs", "cp", str(notes), "dbfs:/cli/in/notes.txt")
    assert refused == {
        "error_code": "RESOURCE_ALREADY_EXISTS",
        "message": "A file or directory already exists at the input path dbfs:/cli/in/notes.txt.",
    }

    cli.ok("fs", "mv", "dbfs:/cli/in/big.bin", "dbfs:/cli/moved.bin")
    assert emu80.dbfs.find_file("/cli/moved.bin") == big.read_bytes()
    assert emu80.dbfs.find_file("/cli/in/big.bin") is None
    cli.ok("fs", "rm", "-r", "dbfs:/cli")
    assert cli.ok("fs", "ls", "dbfs:/").split() == []
