"""The driver's log files as Databricks delivers them: ``driver/stdout``, ``driver/stderr`` and
``driver/log4j-active.log`` (paths under ``<destination>/<cluster_id>/``).

A few realistic start lines once the driver is up; the same with the termination appended (reason code,
type and parameters) when the cluster terminates. Every value comes from the cluster record, so the text
is repeatable and a test can assert on it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any


def _log4j(at: float, level: str, logger: str, message: str) -> str:
    # Databricks' log4j pattern: %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
    return f"{time.strftime('%y/%m/%d %H:%M:%S', time.gmtime(at))} {level} {logger}: {message}\n"


def _ctime(at: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(at))


def driver_logs(cluster: Mapping[str, Any], *, terminating_at: float | None = None) -> dict[str, str]:
    """The driver logs of a cluster whose ``driver`` is placed, by path.

    With ``terminating_at``, the cluster's ``termination_reason`` is appended as of that moment.
    """
    driver = cluster["driver"]
    up = driver["start_timestamp"] / 1000
    cluster_id, runtime, ip = cluster["cluster_id"], cluster["spark_version"], driver["private_ip"]
    context = int(cluster.get("spark_context_id", 0))
    stdout = (
        f"{_ctime(up)} Connection to spark from PID  {1000 + context % 9000}\n"
        f"{_ctime(up)} Initialized gateway on port {30000 + context % 20000}\n"
        f"{_ctime(up)} Connected to spark.\n"
    )
    stderr = "NOTE: Picked up JDK_JAVA_OPTIONS: --add-opens=java.base/java.lang=ALL-UNNAMED\n" + _log4j(
        up,
        "WARN",
        "NativeCodeLoader",
        "Unable to load native-hadoop library for your platform... "
        "using builtin-java classes where applicable",
    )
    log4j = (
        _log4j(up, "INFO", "DriverDaemon$", "Started Log4j2")
        + _log4j(up, "INFO", "DriverDaemon$", "========== driver starting up ==========")
        + _log4j(
            up,
            "INFO",
            "DriverDaemon$",
            f"Cluster {cluster_id} on {runtime}: driver {cluster.get('driver_node_type_id')} "
            f"{driver['instance_id']} at {ip}",
        )
        + _log4j(up, "INFO", "SparkContext", "Submitted application: Databricks Shell")
        + _log4j(up, "INFO", "DriverDaemon", "Driver is healthy, Spark is ready")
    )
    if terminating_at is not None:
        reason = cluster["termination_reason"]
        parameters = ", ".join(f"{key}={value}" for key, value in sorted(reason["parameters"].items()))
        said = f"{reason['code']} ({reason['type']})" + (f": {parameters}" if parameters else "")
        stdout += f"{_ctime(terminating_at)} Driver terminating: {reason['code']}\n"
        stderr += _log4j(terminating_at, "WARN", "DriverDaemon$", f"Driver shutting down: {reason['code']}")
        log4j += (
            _log4j(terminating_at, "INFO", "DriverDaemon$", f"Cluster termination requested: {said}")
            + _log4j(terminating_at, "INFO", "SparkContext", "Successfully stopped SparkContext")
            + _log4j(terminating_at, "INFO", "ShutdownHookManager", "Shutdown hook called")
        )
    return {"driver/stdout": stdout, "driver/stderr": stderr, "driver/log4j-active.log": log4j}
