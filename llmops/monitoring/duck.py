"""Monitoring logs of any size through DuckDB: many files (globs, rotated backups, one log per
host), more events than memory holds, and Parquet in and out.

DuckDB's JSON reader parses the logs on every core into a table of the columns the figures need
(a temporary database file, so the table spills to disk instead of growing past
`memory_limit`); each figure is one SQL aggregate over it. What a line must be to count is still
decided line by line as `llmops.monitoring.reading` does: while DuckDB reads, a thread checks
every line with the same msgspec decoder (DuckDB releases the GIL, so both run at once) and
reports bad ones as `file:line: why`. DuckDB's reader is more lenient (it casts "12" to 12.0 and
1 to true, and reads a missing key as null), so a file with any bad line, or a timestamp not
in the wrapper's own form, is read again by the exact reader and its events replace DuckDB's:
the figures, groups, alerts and bad-line reports are those of the pandas path, at any size.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import InputError
from llmops.limits import Limits
from llmops.monitoring.reading import BadLine, check_file, read_events

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

#: DuckDB's own memory cap (its tables and sorts spill to the temporary directory past it).
MEMORY_LIMIT = "1GB"
#: The columns kept per event, and the JSON types DuckDB reads them as.
_JSON_COLUMNS = {
    "timestamp": "VARCHAR",
    "chatbot_version": "VARCHAR",
    "target": "VARCHAR",
    "latency_ms": "DOUBLE",
    "status": "VARCHAR",
    "error_type": "VARCHAR",
    "slow": "BOOLEAN",
    "pii_types": "VARCHAR[]",
    "pii_response_types": "VARCHAR[]",
    "gen_ai.request.model": "VARCHAR",
}
#: The events table (and the Parquet file `llmops monitor export` writes).
_TABLE = """
CREATE TABLE events (
    file INTEGER,            -- index into the list of files read
    timestamp TIMESTAMP,     -- UTC
    chatbot_version VARCHAR,
    target VARCHAR,
    model VARCHAR,
    status VARCHAR,
    error_type VARCHAR,
    latency_ms DOUBLE,
    slow BOOLEAN,
    pii_types VARCHAR[],     -- distinct types in the prompt or the reply
    response_pii_types VARCHAR[]
)"""
#: The timestamp form the wrapper writes; others go through the exact reader (pandas' parser).
_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z"
PARQUET_COLUMNS = (
    "timestamp",
    "chatbot_version",
    "target",
    "model",
    "status",
    "error_type",
    "latency_ms",
    "slow",
    "pii_types",
    "response_pii_types",
)


def available() -> bool:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class DuckTable:
    """Events in a DuckDB table; what `summary.summarize` needs of them."""

    con: duckdb.DuckDBPyConnection
    bad_lines: list[BadLine] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    where: str = "TRUE"  # the --since filter
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def __len__(self) -> int:
        return int(self._one(f"SELECT count(*) FROM events WHERE {self.where}"))

    def time_range(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        import pandas as pd

        first, last = self.con.execute(
            f"SELECT min(timestamp), max(timestamp) FROM events WHERE {self.where}"
        ).fetchone()  # type: ignore[misc]
        if first is None:
            return None, None
        return pd.Timestamp(first, tz="UTC"), pd.Timestamp(last, tz="UTC")

    def since(self, start: pd.Timestamp) -> DuckTable:
        """Only the events at or after `start` (UTC)."""
        stamp = start.tz_convert("UTC").tz_localize(None).isoformat()
        return DuckTable(
            self.con,
            self.bad_lines,
            self.files,
            f"({self.where}) AND timestamp >= TIMESTAMP '{stamp}'",
            self._tmp,
        )

    def metrics(self, key: str | None, window: str | None) -> pd.DataFrame:
        """The figures per group of `key` (a `--by` key; None: one row `all`), the same frame
        as `summary.metrics_table` makes: columns METRICS, `pii_rate.TYPE`, `errors.TYPE`."""
        import numpy as np

        from llmops.monitoring.summary import METRICS

        group = self._group_sql(key, window)
        base = f"SELECT {group} AS grp, * FROM events WHERE {self.where}"
        out = self.con.execute(
            f"""
            SELECT grp, count(*) AS requests,
                   sum((status = 'error')::INTEGER) AS errors,
                   avg((status = 'error')::INTEGER) AS error_rate,
                   avg((status = 'empty')::INTEGER) AS empty_rate,
                   avg(slow::INTEGER) AS slow_rate,
                   avg((len(pii_types) > 0)::INTEGER) AS pii_rate,
                   avg((len(response_pii_types) > 0)::INTEGER) AS response_pii_rate,
                   quantile_cont(latency_ms, 0.5) AS p50_latency_ms,
                   quantile_cont(latency_ms, 0.95) AS p95_latency_ms,
                   quantile_cont(latency_ms, 0.99) AS p99_latency_ms,
                   max(latency_ms) AS max_latency_ms
            FROM ({base}) GROUP BY grp ORDER BY grp
            """
        ).df()
        out = out.set_index("grp")
        out.index = _index(out.index, key)
        out["requests"] = out["requests"].astype(np.int64)
        out["errors"] = out["errors"].astype(np.int64)
        for col in METRICS[2:]:
            out[col] = out[col].astype(float)
        out = out[list(METRICS)]
        pii = self.con.execute(
            f"SELECT grp, t, count(*) AS n FROM (SELECT grp, unnest(pii_types) AS t FROM "
            f"({base})) GROUP BY ALL"
        ).df()
        if len(pii):
            counts = pii.pivot(index="grp", columns="t", values="n")
            counts.index = _index(counts.index, key)
            counts = counts.reindex(columns=sorted(counts.columns))
            rates = counts.div(out["requests"], axis=0).reindex(out.index).fillna(0.0)
            rates.columns = [f"pii_rate.{t}" for t in rates.columns]
            out = out.join(rates)
        errs = self.con.execute(
            f"SELECT grp, error_type AS t, count(*) AS n FROM ({base}) "
            "WHERE error_type IS NOT NULL GROUP BY ALL"
        ).df()
        if len(errs):
            counts = errs.pivot(index="grp", columns="t", values="n")
            counts.index = _index(counts.index, key)
            counts = counts.reindex(columns=sorted(counts.columns))
            counts = counts.reindex(out.index).fillna(0).astype(int)
            counts.columns = [f"errors.{t}" for t in counts.columns]
            out = out.join(counts)
        out.index.name = None
        return out

    def _group_sql(self, key: str | None, window: str | None) -> str:
        from llmops.monitoring.summary import COLUMN_KEYS, WINDOW_KEYS, _seconds

        if key is None:
            return "'all'"
        if key in COLUMN_KEYS:
            return f"coalesce({COLUMN_KEYS[key]}, '-')"
        if key in WINDOW_KEYS or key == "window":
            # Floored from the epoch, as pandas' dt.floor does (DuckDB's time_bucket counts
            # from 2000-01-03, which moves 7-day windows).
            us = int(_seconds(WINDOW_KEYS.get(key, window or "1h")) * 1_000_000)
            return f"make_timestamp((epoch_us(timestamp) // {us}) * {us})"
        raise InputError(
            f"--by {key!r}: use one of {', '.join([*COLUMN_KEYS, *WINDOW_KEYS, 'window'])}"
        )

    def _one(self, sql: str) -> Any:
        row = self.con.execute(sql).fetchone()
        return None if row is None else row[0]

    def export_parquet(self, path: Path) -> int:
        """Write the events (not the texts: the figures' columns) to a Parquet file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        cols = ", ".join(f'"{c}"' for c in PARQUET_COLUMNS)
        self.con.execute(
            f"COPY (SELECT {cols} FROM events WHERE {self.where}) "
            f"TO '{_sql_path(tmp)}' (FORMAT parquet, COMPRESSION zstd)"
        )
        os.replace(tmp, path)
        return len(self)

    def close(self) -> None:
        self.con.close()
        if self._tmp is not None:
            self._tmp.cleanup()


def _index(index: pd.Index, key: str | None) -> pd.Index:
    import pandas as pd

    if key is not None and key not in ("version", "target", "model"):
        return pd.DatetimeIndex(pd.to_datetime(index), name=None)
    return pd.Index([str(v) for v in index], dtype=object)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def connect(threads: int | None = None) -> tuple[duckdb.DuckDBPyConnection, Any]:
    """A DuckDB database in a temporary directory (deleted on close), capped in memory."""
    import duckdb

    tmp = tempfile.TemporaryDirectory(prefix="llmops-duckdb-")
    con = duckdb.connect(str(Path(tmp.name) / "events.duckdb"))
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.execute(f"SET temp_directory = '{_sql_path(Path(tmp.name) / 'spill')}'")
    con.execute("SET preserve_insertion_order = false")  # lets the reader stream in parallel
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute(_TABLE)
    return con, tmp


def read_events_duckdb(
    paths: Sequence[Path],
    *,
    on_bad: Callable[[BadLine], None] | None = None,
    limits: Limits | None = None,
    now: pd.Timestamp | None = None,
) -> DuckTable:
    """Every good event of `paths` (JSONL logs, or Parquet files `export` wrote) in a DuckDB
    table, with the bad lines `read_events` would report, in the same order."""
    import pandas as pd

    limits = limits or Limits()
    con, tmp = connect()
    files = [str(p) for p in paths]
    table = DuckTable(con, [], files, _tmp=tmp)
    try:
        jsonl = [i for i, p in enumerate(paths) if not _is_parquet(p)]
        for i, p in enumerate(paths):
            if _is_parquet(p):
                _load_parquet(con, i, p)
        bad: dict[int, list[BadLine]] = {i: [] for i in jsonl}
        unread = _load_jsonl(con, paths, jsonl, bad, limits) if jsonl else set()
        # Timestamps the fast path may not parse as pandas would, or implausible ones: the
        # exact reader decides about those files.
        now = pd.Timestamp.now(tz="UTC") if now is None else now
        latest = (now + pd.Timedelta(seconds=limits.max_future_skew_s)).tz_localize(None)
        earliest = pd.Timestamp(year=limits.earliest_event_year, month=1, day=1)
        odd = {
            int(r[0])
            for r in con.execute(
                f"SELECT DISTINCT file FROM events WHERE timestamp IS NULL "
                f"OR timestamp < TIMESTAMP '{earliest.isoformat()}' "
                f"OR timestamp > TIMESTAMP '{latest.isoformat()}'"
            ).fetchall()
        }
        redo = sorted({i for i, b in bad.items() if b} | (odd & set(jsonl)) | unread)
        for i in redo:
            bad[i] = []
            exact = read_events([paths[i]], on_bad=bad[i].append, limits=limits, now=now)
            con.execute(f"DELETE FROM events WHERE file = {i}")
            _insert_frame(con, i, exact)
        for i in sorted(bad):
            for b in bad[i]:
                table.bad_lines.append(b)
                if on_bad:
                    on_bad(b)
    except BaseException:
        table.close()
        raise
    return table


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _load_jsonl(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    which: list[int],
    bad: dict[int, list[BadLine]],
    limits: Limits,
) -> set[int]:
    """DuckDB reads the JSONL files while a thread checks their lines; returns the files
    DuckDB could not read (all of them, or none)."""
    errors: list[BaseException] = []
    good: dict[int, int] = {}

    def check() -> None:
        try:
            for i in which:
                good[i] = check_file(paths[i], bad[i].append, limits.max_log_line_bytes)
        except BaseException as exc:  # raised in the caller's thread below
            errors.append(exc)

    checker = threading.Thread(target=check, name="llmops-log-check", daemon=True)
    checker.start()
    try:
        columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in _JSON_COLUMNS.items()) + "}"
        listed = ", ".join(f"'{_sql_path(paths[i])}'" for i in which)
        index = ", ".join(f"'{_sql_path(paths[i])}': {i}" for i in which)
        con.execute(
            f"""
            INSERT INTO events
            SELECT MAP {{{index}}}[filename],
                   CASE WHEN regexp_full_match("timestamp", '{_STAMP}')
                        THEN TRY_CAST(rtrim("timestamp", 'Z') AS TIMESTAMP) END,
                   chatbot_version, target, "gen_ai.request.model", status, error_type,
                   latency_ms, slow, list_distinct(pii_types),
                   list_intersect(list_distinct(pii_types), pii_response_types)
            FROM read_json([{listed}], format = 'newline_delimited', columns = {columns},
                           filename = true, ignore_errors = true,
                           maximum_object_size = {max(limits.max_log_line_bytes, 1 << 20) + 1})
            """
        )
    except Exception as exc:
        import duckdb

        if not isinstance(exc, duckdb.Error):
            raise
        # The reader gave up on something it cannot skip (ignore_errors skips most): the
        # exact reader takes every file.
        con.execute("DELETE FROM events")
        return set(which)
    finally:
        checker.join()
        if errors:
            raise errors[0]
    # A line the checker takes but DuckDB skipped (a number past double's range, a duplicate
    # key...) would be a missing event: such a file goes to the exact reader too.
    read = dict(con.execute("SELECT file, count(*) FROM events GROUP BY file").fetchall())
    return {i for i in which if read.get(i, 0) != good.get(i, 0)}


def _load_parquet(con: duckdb.DuckDBPyConnection, i: int, path: Path) -> None:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    cols = ", ".join(f'"{c}"' for c in PARQUET_COLUMNS)
    try:
        con.execute(
            f"INSERT INTO events SELECT {i}, {cols} FROM read_parquet('{_sql_path(path)}')"
        )
    except Exception as exc:
        raise InputError(
            f"{path}: not a Parquet file of monitoring events (llmops monitor export "
            f"writes them): {str(exc).splitlines()[0]}"
        ) from exc


def _insert_frame(con: duckdb.DuckDBPyConnection, i: int, table: Any) -> None:
    """The events the exact reader kept, into the DuckDB table."""
    import pandas as pd

    df = table.frame
    pii = table.pii
    types: list[list[str]] = [[] for _ in range(len(df))]
    resp: list[list[str]] = [[] for _ in range(len(df))]
    for row, t, in_resp in zip(
        pii["row"].to_numpy(), pii["type"].astype(str), pii["in_response"].to_numpy(),
        strict=True,
    ):
        types[row].append(t)
        if in_resp:
            resp[row].append(t)
    frame = pd.DataFrame(
        {
            "file": i,
            "timestamp": df["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None),
            "chatbot_version": df["chatbot_version"].astype(object),
            "target": df["target"].astype(object),
            "model": df["model"].astype(object).where(df["model"].notna(), None),
            "status": df["status"].astype(object),
            "error_type": df["error_type"].astype(object).where(df["error_type"].notna(), None),
            "latency_ms": df["latency_ms"],
            "slow": df["slow"],
            "pii_types": types,
            "response_pii_types": resp,
        }
    )
    con.register("exact_frame", frame)
    try:
        con.execute("INSERT INTO events SELECT * FROM exact_frame")
    finally:
        con.unregister("exact_frame")


def expand(patterns: Iterable[str | Path]) -> list[Path]:
    """Log paths from arguments: a file as is; a glob (`logs/*/monitoring.jsonl*`, quoted so
    the shell leaves it) its matches, rotated backups oldest first; a directory its
    monitoring.jsonl and backups. A pattern that matches nothing is an error."""
    import glob

    from llmops.monitoring.logfiles import JSONL_NAME
    from llmops.monitoring.reading import log_files

    out: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        path = Path(text)
        if path.is_dir():
            found = log_files(path / JSONL_NAME)
            if not found:
                raise InputError(f"{path}: no {JSONL_NAME} in this directory")
            out += found
        elif glob.has_magic(text):
            matches = [Path(m) for m in glob.glob(text, recursive=True) if Path(m).is_file()]
            if not matches:
                raise InputError(f"{text}: no file matches")
            out += sorted(matches, key=_rotation_order)
        elif path.is_file():
            out.append(path)
        else:
            raise InputError(f"{path}: no such file")
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _rotation_order(path: Path) -> tuple[str, int, str]:
    """Directory and base name together, and within them `x.jsonl.3`, `x.jsonl.2`, ...,
    `x.jsonl` (oldest first), as `log_files` orders one log's backups."""
    m = re.fullmatch(r"(.*)\.(\d+)", path.name)
    if m and not m.group(1).endswith("."):
        return (str(path.parent / m.group(1)), -int(m.group(2)), "")
    return (str(path), 0, "")
