"""The ``airflow-databricks-clusters`` command: ``emulator`` serves a local Databricks workspace."""

from __future__ import annotations

import argparse
import math
import signal
import sys
from collections.abc import Sequence
from types import FrameType


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airflow-databricks-clusters")
    commands = parser.add_subparsers(dest="command", required=True)
    emu = commands.add_parser("emulator", help="serve an emulated Databricks workspace until SIGTERM/SIGINT")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8765)
    emu.add_argument("--token", default="dapi-emulator-token", help="the personal access token it accepts")
    emu.add_argument("--start-seconds", type=float, default=5.0, help="PENDING -> RUNNING time")
    emu.add_argument("--terminate-seconds", type=float, default=1.0, help="TERMINATING -> TERMINATED time")
    emu.add_argument("--run-seconds", type=float, default=3.0, help="how long a job run takes")
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
    return parser


def _time_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number from 0 (0 stops the clock), got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from airflow_databricks_clusters.emulator.server import Emulator

    clients = dict(item.split(":", 1) for item in args.oauth_client)
    emulator = Emulator(
        host=args.host,
        port=args.port,
        token=args.token,
        start_seconds=args.start_seconds,
        terminate_seconds=args.terminate_seconds,
        run_seconds=args.run_seconds,
        region=args.region,
        state_file=args.state_file,
        oauth_clients=clients,
        s3_endpoint_url=args.s3_endpoint_url,
        time_scale=args.time_scale,
        fast_forward=args.fast_forward,
    )

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
