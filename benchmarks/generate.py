"""Seeded, vectorised usage events for one landing day, as Parquet and NDJSON.gz.

Realistic shape: C customers with Zipf-like activity (a few very busy, a long tail), three
meters (two integer, one decimal), timestamps spread over the day with ~2 % arriving a day late,
1 % exact duplicates, 0.1 % bad lines (malformed JSON in NDJSON; invalid quantity, unknown
customer, negative quantity and invalid timestamp in both formats).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

METERS = np.array(["api_requests", "llm_tokens", "storage_gb_hours"])


def customer_key(i: int) -> str:
    return f"acct_{i:06d}"


@dataclass
class Generated:
    parquet: Path
    ndjson_gz: Path
    lines: int
    duplicates: int
    bad: int


def generate(folder: Path, day: date, events: int, customers: int = 12_000, seed: int = 7,
             ndjson: bool = True) -> Generated:
    """``events`` good events plus 1 % duplicates and 0.1 % bad lines, in landing order."""
    rng = np.random.default_rng([seed, day.toordinal()])
    folder.mkdir(parents=True, exist_ok=True)
    n = events
    # Zipf-like activity: customer rank r gets weight 1 / r^1.1; busy accounts dominate.
    weights = 1.0 / np.arange(1, customers + 1) ** 1.1
    cust = rng.choice(customers, size=n, p=weights / weights.sum()) + 1
    meter_idx = rng.integers(0, 3, size=n)
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    seconds = rng.integers(0, 86_400, size=n)
    late = rng.random(n) < 0.02
    ts = start + seconds - late * 86_400
    int_qty = rng.choice(np.array([1, 1, 2, 5, 10, 120, 2500]), size=n)
    dec_qty = rng.integers(1, 4000, size=n)
    prefix = f"evt_{day:%Y%m%d}_"
    dup_n = n // 100
    is_dup = np.zeros(n, dtype=bool)
    is_dup[rng.choice(n, size=dup_n, replace=False)] = True
    bad_n = max(4, n // 1000)
    src = pa.table({  # noqa: F841 (read by DuckDB by name)
        "i": np.arange(n), "c": cust, "m": meter_idx, "t": ts, "iq": int_qty, "dq": dec_qty,
        "dup": is_dup,
    })
    bad_src = pa.table({"k": rng.integers(0, 4, size=bad_n), "j": np.arange(bad_n)})  # noqa: F841
    con = duckdb.connect()
    con.execute("set preserve_insertion_order = true")
    good = """
        select
            '{prefix}' || lpad(cast(i as varchar), 10, '0') as event_id,
            'acct_' || lpad(cast(c as varchar), 6, '0') as customer_id,
            (['api_requests', 'llm_tokens', 'storage_gb_hours'])[1 + m] as meter,
            strftime(to_timestamp(t) at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.') ||
                lpad(cast(i % 1000 as varchar), 3, '0') || 'Z' as timestamp,
            case when m = 2 then cast(cast(dq as decimal(18, 3)) / 1000 as varchar)
                 else cast(iq as varchar) end as quantity,
            '{{"region":"' || (['eu-west', 'us-east', 'ap-south'])[1 + (i % 3)] || '"}}' as properties
        from src {where}
    """
    bad = f"""
        select
            'bad_{day:%Y%m%d}_' || j as event_id,
            case when k = 1 then 'acct_999999' else 'acct_000001' end as customer_id,
            'api_requests' as meter,
            case when k = 3 then 'yesterday' else '{day.isoformat()}T12:00:00Z' end as timestamp,
            case when k = 0 then 'lots' when k = 2 then '-3' else '1' end as quantity,
            '{{}}' as properties
        from bad_src
    """
    pq_path = folder / "events.parquet"
    con.register("src", src)
    con.register("bad_src", bad_src)
    con.execute(
        f"copy ({good.format(prefix=prefix, where='')} union all "
        f"{good.format(prefix=prefix, where='where dup')} union all {bad}) "
        f"to '{pq_path}' (format parquet, row_group_size 1000000)"
    )
    gz_path = folder.parent.parent / f"ndjson_{day.isoformat()}" / "events.ndjson.gz"
    if ndjson:
        gz_path.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"copy (select * from read_parquet('{pq_path}', hive_partitioning = false)) "
                    f"to '{gz_path}' (format json, compression gzip)")
        # malformed lines: one more gzip member (concatenated members are one valid gzip stream)
        with gzip.open(gz_path, "ab") as f:
            f.write(b"".join(b'{"event_id": "broken", "quantity": 1\n' for _ in range(bad_n // 4 + 1)))
    con.close()
    total = n + dup_n + bad_n
    return Generated(pq_path, gz_path, total, dup_n, bad_n)
