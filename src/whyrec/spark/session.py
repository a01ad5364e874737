"""Starting Spark: the Java it needs, the session, and an executor's failure as one line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from whyrec.errors import ConfigError, WhyrecError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

JAVA_NEEDED = 17  # Spark 4 runs on Java 17 or 21


def java_version() -> tuple[str, int | None]:
    """The `java` Spark would start ($JAVA_HOME's, else the one on PATH) and its major version (None: not found)."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if java is None or not os.path.exists(java):
        return (java or "java", None)
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except OSError:
        return (java, None)
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if found is None:
        return (java, None)
    major = int(found.group(1))
    return (java, int(found.group(2)) if major == 1 and found.group(2) else major)  # "1.8" is Java 8


def require_java() -> None:
    """ConfigError (exit 2) naming the Java found and the Java needed, unless a usable one is there."""
    java, major = java_version()
    if major is None:
        raise ConfigError(f"Spark needs Java {JAVA_NEEDED} or newer; no Java found ({java}): install openjdk-17-jre-headless")
    if major < JAVA_NEEDED:
        raise ConfigError(f"Spark needs Java {JAVA_NEEDED} or newer; found Java {major} at {java}")


def parse_conf(pairs: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` options (as spark-submit's --conf) into a dict."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--conf: expected KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


@contextmanager
def spark_session(master: str, app: str, conf: dict[str, str] | None = None) -> Iterator[SparkSession]:
    """A Spark session for one command, stopped after it; an executor's failure becomes one WhyrecError line."""
    require_java()
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError("pyspark is not installed: run `make setup`") from exc

    # Python workers run whyrec in this interpreter's environment unless PYSPARK_PYTHON names another (a cluster's).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("FATAL")  # a failure is reported as one line below, not as the JVM's stack traces
    try:
        yield spark
    except WhyrecError:
        raise
    except Exception as exc:
        if not _from_spark(exc):
            raise
        raise WhyrecError(f"Spark job failed: {first_error_line(str(exc))}") from exc
    finally:
        spark.stop()


def _from_spark(exc: BaseException) -> bool:
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return isinstance(exc, PySparkException | Py4JError)


_ERROR_LINE = re.compile(r"^\s*((?:[\w.]+\.)?\w*(?:Error|Exception)\b:?.*)$")


def first_error_line(message: str) -> str:
    """The line naming the executor's error: a Python worker's own exception line, else the first `...Exception: ...`."""
    lines = message.splitlines()
    # A Python worker's traceback ends with its exception line; the lines before it are frames.
    if "Traceback (most recent call last)" in message:
        tail = message.split("Traceback (most recent call last)", 1)[1].splitlines()
        for line in tail:
            if line and not line.startswith(" ") and _ERROR_LINE.match(line):
                return line.strip()
    for line in lines:
        if _ERROR_LINE.match(line):
            return line.strip()
    return next((line.strip() for line in lines if line.strip()), "no message")
