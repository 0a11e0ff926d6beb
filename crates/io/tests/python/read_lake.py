"""Reads a tickstream lake back with DuckDB, pyarrow and Polars and checks it against the expectations the
Rust test wrote beside it.

Usage: read_lake.py EXPECTED_JSON
Exits non-zero with a message on the first mismatch; prints one line per reader on success.
"""

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

DATASETS = ["trades", "quotes", "bars", "indicators", "signals", "status"]


def check(condition, message):
    if not condition:
        sys.exit(f"lake check failed: {message}")


def glob(root, dataset):
    return f"{root}/{dataset}/**/*.parquet"


def check_duckdb(root, expected):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    trades = f"read_parquet('{glob(root, 'trades')}', hive_partitioning = true)"

    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {trades})").fetchall())
    # DuckDB 2 keeps the nanoseconds (TIMESTAMPTZ_NS); older versions read microseconds with the time zone.
    utc = {"TIMESTAMPTZ_NS", "TIMESTAMP WITH TIME ZONE"}
    check(types.pop("ts_event") in utc and types.pop("ts_recv") in utc, "trades timestamps are UTC timestamps")
    want = {
        "raw_symbol": "VARCHAR",
        "trade_id": "VARCHAR",
        "price": "DOUBLE",
        "quantity": "DOUBLE",
        "side": "VARCHAR",
        "exchange": "VARCHAR",
        "symbol": "VARCHAR",
        "date": "DATE",
    }
    check(types == want, f"trades column types {types}")

    rows = con.execute(f"SELECT exchange, symbol, trade_id FROM {trades} ORDER BY ALL").fetchall()
    check([list(r) for r in rows] == sorted(expected["trade_ids"]), "trade ids differ from what was written")

    first = expected["first_trade"]
    row = con.execute(
        f"""SELECT epoch_ns(ts_event), price, quantity, side, raw_symbol, strftime(ts_event, '%Y-%m-%dT%H:%M:%S.%fZ')
            FROM {trades} WHERE exchange = ? AND symbol = ? AND trade_id = ?""",
        [first["exchange"], first["symbol"], first["trade_id"]],
    ).fetchone()
    check(
        list(row) == [first["ts_event_ns"], first["price"], first["quantity"], first["side"], first["raw_symbol"],
                      first["ts_event_text"]],
        f"first trade {row} != {first}",
    )
    misdated = con.execute(f"SELECT count(*) FROM {trades} WHERE date <> CAST(ts_event AS DATE)").fetchone()[0]
    check(misdated == 0, f"{misdated} trades in a date partition other than their UTC date")

    for dataset in DATASETS:
        n = con.execute(f"SELECT count(*) FROM read_parquet('{glob(root, dataset)}', hive_partitioning = true)")
        count = n.fetchone()[0]
        check(count == expected["counts"][dataset], f"duckdb {dataset}: {count} rows")

    # The analyst query: the last 24 h of 1m closes with RSI for one symbol (24 h before the newest bar here,
    # `now() - INTERVAL 24 HOUR` in real use). DuckDB 2 reads the nanosecond columns as TIMESTAMPTZ_NS, which
    # has no interval arithmetic or comparison with TIMESTAMPTZ yet: cast to TIMESTAMPTZ to filter by time.
    result = con.execute(
        f"""
        WITH bars AS (
            SELECT open_time, close
            FROM read_parquet('{glob(root, 'bars')}', hive_partitioning = true)
            WHERE exchange = 'binance' AND symbol = 'BTC-USDT' AND "interval" = '1m'
        ),
        rsi AS (
            SELECT open_time, "values"['rsi_14'] AS rsi_14
            FROM read_parquet('{glob(root, 'indicators')}', hive_partitioning = true)
            WHERE exchange = 'binance' AND symbol = 'BTC-USDT' AND "interval" = '1m'
        )
        SELECT epoch_ns(open_time), close, rsi_14
        FROM bars LEFT JOIN rsi USING (open_time)
        WHERE open_time::TIMESTAMPTZ > (SELECT max(open_time)::TIMESTAMPTZ FROM bars) - INTERVAL 24 HOUR
        ORDER BY open_time
        """
    ).fetchall()
    analyst = expected["analyst"]
    check(len(result) == analyst["rows"], f"analyst query returned {len(result)} rows")
    check(list(result[0]) == analyst["first"], f"analyst first row {result[0]} != {analyst['first']}")
    check(list(result[-1]) == analyst["last"], f"analyst last row {result[-1]} != {analyst['last']}")
    # The same query as docs/lake.md shows it, relative to the clock: it must bind and run.
    con.execute(
        f"""
        WITH bars AS (
            SELECT open_time, close FROM read_parquet('{glob(root, 'bars')}', hive_partitioning = true)
            WHERE exchange = 'binance' AND symbol = 'BTC-USDT' AND "interval" = '1m'
              AND open_time::TIMESTAMPTZ > now() - INTERVAL 24 HOUR
        ),
        rsi AS (
            SELECT open_time, "values"['rsi_14'] AS rsi_14
            FROM read_parquet('{glob(root, 'indicators')}', hive_partitioning = true)
            WHERE exchange = 'binance' AND symbol = 'BTC-USDT' AND "interval" = '1m'
        )
        SELECT epoch_ns(open_time), close, rsi_14 FROM bars LEFT JOIN rsi USING (open_time) ORDER BY open_time
        """
    ).fetchall()
    print(f"duckdb {duckdb.__version__}: {len(rows)} trades, analyst query {len(result)} rows: ok")


def check_pyarrow(root, expected):
    for dataset in DATASETS:
        table = ds.dataset(f"{root}/{dataset}", format="parquet", partitioning="hive").to_table()
        check(table.num_rows == expected["counts"][dataset], f"pyarrow {dataset}: {table.num_rows} rows")
        ts_name = {"bars": "open_time", "indicators": "open_time", "signals": "ts"}.get(dataset, "ts_event")
        check(table.schema.field(ts_name).type == pa.timestamp("ns", tz="UTC"), f"pyarrow {dataset}.{ts_name}")
    trades = ds.dataset(f"{root}/trades", format="parquet", partitioning="hive").to_table()
    check(pa.types.is_dictionary(trades.schema.field("side").type), "side is dictionary-encoded")
    check(trades.schema.field("price").type == pa.float64(), "price is float64")
    print(f"pyarrow {pa.__version__}: every dataset read: ok")


def rsi_14(frame):
    values = pl.col("values")
    if not isinstance(frame.collect_schema()["values"], pl.List):
        return values.map.get("rsi_14").alias("rsi_14")
    entry = pl.element()
    picked = values.list.eval(entry.filter(entry.struct.field("key") == "rsi_14").struct.field("value"))
    return picked.list.first().alias("rsi_14")


def check_polars(root, expected):
    for dataset in DATASETS:
        frame = pl.scan_parquet(glob(root, dataset), hive_partitioning=True).collect()
        check(frame.height == expected["counts"][dataset], f"polars {dataset}: {frame.height} rows")
        ts_name = {"bars": "open_time", "indicators": "open_time", "signals": "ts"}.get(dataset, "ts_event")
        check(frame.schema[ts_name] == pl.Datetime("ns", "UTC"), f"polars {dataset}.{ts_name}: {frame.schema[ts_name]}")
    # The analyst query in Polars: Polars 2 reads the `values` column as a map; older versions as a list of
    # {key, value} structs.
    one = (pl.col("exchange") == "binance") & (pl.col("symbol") == "BTC-USDT") & (pl.col("interval") == "1m")
    bars = pl.scan_parquet(glob(root, "bars"), hive_partitioning=True).filter(one).select("open_time", "close")
    indicators = pl.scan_parquet(glob(root, "indicators"), hive_partitioning=True).filter(one)
    rsi = indicators.select("open_time", rsi_14(indicators))
    last_24h = (
        bars.join(rsi, on="open_time", how="left")
        .filter(pl.col("open_time") > pl.col("open_time").max() - pl.duration(hours=24))
        .sort("open_time")
        .collect()
    )
    since = datetime.now(timezone.utc) - timedelta(hours=24)
    bars.filter(pl.col("open_time") > since).join(rsi, on="open_time", how="left").sort("open_time").collect()
    analyst = expected["analyst"]
    check(last_24h.height == analyst["rows"], f"polars analyst query returned {last_24h.height} rows")
    check(list(last_24h.row(-1))[1:] == analyst["last"][1:], f"polars last row {last_24h.row(-1)}")
    print(f"polars {pl.__version__}: every dataset read: ok")


def main():
    expected = json.loads(Path(sys.argv[1]).read_text())
    root = expected["root"]
    check_duckdb(root, expected)
    check_pyarrow(root, expected)
    check_polars(root, expected)


if __name__ == "__main__":
    main()
