"""The ``airflow-databricks-clusters`` command: ``emulator`` serves a local Databricks workspace."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airflow-databricks-clusters")
    commands = parser.add_subparsers(dest="command", required=True)
    emu = commands.add_parser("emulator", help="serve an emulated Databricks workspace until SIGTERM/SIGINT")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8765)
    emu.add_argument("--token", default="dapi-emulator-token", help="the personal access token it accepts")
    emu.add_argument("--start-seconds", type=float, default=5.0, help="PENDING -> RUNNING time")
    emu.add_argument(
        "--pool-start-seconds",
        type=float,
        default=None,
        help="PENDING -> RUNNING time of a cluster whose every node is an instance pool's idle one "
        "(default: a quarter of --start-seconds)",
    )
    emu.add_argument("--terminate-seconds", type=float, default=1.0, help="TERMINATING -> TERMINATED time")
    emu.add_argument("--run-seconds", type=float, default=3.0, help="how long a job run takes")
    emu.add_argument(
        "--library-seconds", type=float, default=1.0, help="how long a library install takes (cluster up)"
    )
    emu.add_argument(
        "--time-scale",
        type=_time_scale,
        default=1.0,
        metavar="X",
        help="emulated seconds per real second: 1 real time, 20 twenty times faster, 0 a stopped clock "
        'that only POST /emulator/clock {"advance_seconds": N} moves',
    )
    emu.add_argument(
        "--fast-forward",
        action="store_true",
        help="a read of one cluster or run first moves the clock until it is RUNNING, TERMINATED or "
        "ended, so polling clients never wait",
    )
    emu.add_argument("--region", default="ap-southeast-1")
    emu.add_argument("--state-file", help="keep the workspace in this JSON file across restarts")
    emu.add_argument(
        "--oauth-client", action="append", default=[], metavar="ID:SECRET", help="an OAuth M2M client"
    )
    emu.add_argument(
        "--s3-endpoint-url",
        metavar="URL",
        help="deliver the logs of clusters with an s3 cluster_log_conf to this S3 API (needs boto3)",
    )
    emu.add_argument(
        "--dbfs-init-scripts",
        action="store_true",
        help="run init scripts from DBFS (a workspace from before their end of life); without it a "
        "create naming one is refused with FEATURE_DISABLED, as a workspace does today",
    )
    emu.add_argument(
        "--capacity",
        type=_shortages,
        metavar="JSON|@FILE",
        help="EC2 shortages to start with, as PUT /emulator/capacity takes them: a JSON list of "
        '{"node_type_id", "zone_id", "market", "from_seconds", "until_seconds"} (each optional), or '
        "@ and the path of a file holding it; replaces what --state-file held",
    )
    return parser


def _shortages(text: str) -> list[Any]:
    """The shortages of ``--capacity``: JSON, or ``@path`` of a file of JSON; a list, or an object
    ``{"shortages": [...]}`` (the body ``PUT /emulator/capacity`` takes). The fields are checked when the
    workspace takes them."""
    source = text
    if text.startswith("@"):
        try:
            source = Path(text[1:]).read_text()
        except OSError as err:
            raise argparse.ArgumentTypeError(f"cannot read {text[1:]}: {err.strerror}") from None
    try:
        value = json.loads(source)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not JSON ({err})") from None
    if isinstance(value, dict) and set(value) == {"shortages"}:
        value = value["shortages"]
    if not isinstance(value, list):
        raise argparse.ArgumentTypeError('a JSON list of shortages (or {"shortages": [...]})')
    return value


def _time_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number from 0 (0 stops the clock), got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from airflow_databricks_clusters.emulator.api_errors import ApiError
    from airflow_databricks_clusters.emulator.server import Emulator

    clients = dict(item.split(":", 1) for item in args.oauth_client)
    try:
        emulator = Emulator(
            host=args.host,
            port=args.port,
            token=args.token,
            start_seconds=args.start_seconds,
            pool_start_seconds=args.pool_start_seconds,
            terminate_seconds=args.terminate_seconds,
            run_seconds=args.run_seconds,
            library_seconds=args.library_seconds,
            region=args.region,
            state_file=args.state_file,
            oauth_clients=clients,
            s3_endpoint_url=args.s3_endpoint_url,
            time_scale=args.time_scale,
            fast_forward=args.fast_forward,
            capacity=args.capacity,
            dbfs_init_scripts=args.dbfs_init_scripts,
        )
    except ApiError as err:  # a shortage the workspace refuses
        parser.error(f"argument --capacity: {err.message}")

    def stop(signum: int, frame: FrameType | None) -> None:
        emulator.stop()

    emulator.start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"Databricks emulator listening on {emulator.url}", flush=True)
    emulator.wait()
    emulator.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
