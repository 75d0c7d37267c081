"""Throughput and memory of the daily pipeline against a hand-written DuckDB floor.

    python -m benchmarks.run_bench --sizes 1000000,10000000 [--history-days 90 --history-events 500000]

For each size N: generate N events for one landing day (Parquet and NDJSON.gz, seeded), then,
each stage in its own process (peak memory = that process's max RSS):
  floor        one DuckDB query: read Parquet -> dedupe by event_id -> aggregate per customer,
               meter and day (no validation, accounting or tests): the least work possible
  ingest       landing file -> raw.usage_events (dagster_project.ingest.landing), Parquet
  dbt build    `TOLLGATE_RUN_DATE={day} dbt build`: every model and test; per-model times from
               run_results.json (classify+dedupe, daily aggregate, push input, file
               accounting; rating beside them)
  ingest (NDJSON.gz) the same day's NDJSON.gz into a second warehouse
With --history-days H [--history-also 40]: day N+1's run after 1 day, (40 days,) and H days of
history, side by side; day N is run daily first, so day N+1 carries the push input's state.
Results are printed as Markdown (and written with --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DBT = str(Path(sys.executable).parent / "dbt")
DAY = date(2026, 11, 20)
CUSTOMERS = 12_000
# dbt models -> benchmark stage
STAGES = {
    "dedupe (classify every line)": ["int_usage_line_outcomes"],
    "daily aggregate": ["int_usage_daily_contributions", "fct_usage_daily"],
    "push input": ["int_usage_cumulative_before_window", "fct_meter_push_input"],
    "file accounting": ["fct_landing_file_accounting"],
}
# Rated charges are computed from the push input (per subscription period, not per event), so
# they are reported beside the chain rather than in it.
RATING = ["int_billing__quantities", "int_billing__tier_charges", "fct_rated_usage"]


@dataclass
class Measured:
    seconds: float
    max_rss_mib: float
    out: dict = field(default_factory=dict)
    cpu_seconds: float = 0.0  # user + system of the child: less swayed by others' load than wall


def run(cmd: list[str], env: dict | None = None) -> Measured:
    """Run a child process; wall time and its own peak RSS (os.wait4)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, cwd=ROOT,
                                env={**os.environ, **(env or {})}, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # reap it ourselves: its own rusage
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out_f.seek(0)
        err_f.seek(0)
        stdout, stderr = out_f.read(), err_f.read()
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{stdout[-3000:]}\n{stderr[-3000:]}")
    rss = usage.ru_maxrss / 1024  # KiB on Linux
    out = {}
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    if last.startswith("{"):
        out = json.loads(last)
    return Measured(seconds, rss, out, usage.ru_utime + usage.ru_stime)


def stage(*args: str, env=None) -> Measured:
    return run([sys.executable, "-m", "benchmarks.stage", *args], env)


def dbt_build(home: Path, run_date: date | None) -> tuple[Measured, dict[str, float]]:
    cmd = [DBT, "build", "--exclude", "test_type:unit", "--project-dir", str(ROOT / "dbt"), "--profiles-dir", str(ROOT / "dbt"),
           "--target-path", str(home / "dbt_target")]
    # The day as TOLLGATE_RUN_DATE, as Dagster passes it (empty: none, a full build); a new
    # --vars value would make every call re-parse the whole project.
    m = run(cmd, env={"TOLLGATE_HOME": str(home),
                      "TOLLGATE_RUN_DATE": run_date.isoformat() if run_date else ""})
    results = json.loads((home / "dbt_target" / "run_results.json").read_text())["results"]
    per_node = {r["unique_id"]: r["execution_time"] for r in results}
    return m, per_node


def model_seconds(per_node: dict[str, float], models: list[str]) -> float:
    return sum(t for uid, t in per_node.items() if uid.startswith("model.") and uid.split(".")[-1] in models)


def test_seconds(per_node: dict[str, float]) -> float:
    return sum(t for uid, t in per_node.items() if uid.startswith(("test.", "unit_test.")))


def counts(home: Path) -> dict:
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        landed, acc, dup, q = con.execute(
            "select sum(lines_landed), sum(accepted), sum(duplicates), sum(quarantined) "
            "from marts.fct_landing_file_accounting").fetchone()
        push_rows = con.execute("select count(*) from marts.fct_meter_push_input").fetchone()[0]
    finally:
        con.close()
    return {"landed": int(landed), "accepted": int(acc), "duplicates": int(dup),
            "quarantined": int(q), "push_rows": push_rows}


def fresh_home(base: Path, name: str) -> Path:
    home = base / name
    shutil.rmtree(home, ignore_errors=True)
    (home / "landing" / "usage").mkdir(parents=True)
    stage("setup", str(home), str(CUSTOMERS))
    return home


def bench_size(base: Path, n: int, mem_env: dict, ndjson: bool = True) -> dict:
    data = base / f"data_{n}"
    shutil.rmtree(data, ignore_errors=True)
    # generated in a child process: the parent stays small, so the children it forks report
    # their own peak RSS (a forked child's max RSS starts from its parent's).
    g = stage("generate", str(data / "landing" / f"dt={DAY}"), DAY.isoformat(), str(n), str(CUSTOMERS),
              "1" if ndjson else "0")
    gen_s = g.seconds
    gen = argparse.Namespace(parquet=Path(g.out["parquet"]), ndjson_gz=Path(g.out["ndjson_gz"]), lines=g.out["lines"])

    # The machine is shared: one floor run can be slowed several-fold by someone else's build.
    # It is measured before, between and after the stages; the median is the floor.
    floors = [stage("floor", str(gen.parquet), env=mem_env)]

    home = fresh_home(base, f"home_{n}")
    shutil.copytree(gen.parquet.parent, home / "landing" / "usage" / f"dt={DAY}")
    ingest = stage("ingest", str(home), DAY.isoformat(), env=mem_env)
    floors.append(stage("floor", str(gen.parquet), env=mem_env))
    build, per_node = dbt_build(home, DAY)
    floors.append(stage("floor", str(gen.parquet), env=mem_env))
    floor = sorted(floors, key=lambda m: m.seconds)[1]
    result = {
        "events": n, "lines": gen.lines, "generate_s": gen_s, "floor": floor, "floors": floors,
        "ingest": ingest,
        "build": build, "models": {k: model_seconds(per_node, v) for k, v in STAGES.items()},
        "rating_s": model_seconds(per_node, RATING),
        "tests_s": test_seconds(per_node), "counts": counts(home),
    }
    result["parquet_bytes"] = gen.parquet.stat().st_size
    if not ndjson:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
        return result
    # NDJSON.gz ingest of the same day, into its own warehouse
    home_nd = fresh_home(base, f"home_nd_{n}")
    folder = home_nd / "landing" / "usage" / f"dt={DAY}"
    folder.mkdir(parents=True)
    shutil.copy(gen.ndjson_gz, folder / "events.ndjson.gz")
    result["ingest_ndjson"] = stage("ingest", str(home_nd), DAY.isoformat(), env=mem_env)
    result["ndjson_bytes"] = gen.ndjson_gz.stat().st_size
    result["parquet_bytes"] = gen.parquet.stat().st_size
    shutil.rmtree(home_nd, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)
    return result


def bench_history(base: Path, days: list[int], n: int, mem_env: dict) -> dict:
    """Day N+1 after each number of days of history (n events per day)."""
    out = {}
    for history in days:
        label = f"{history} day" + ("s" if history > 1 else "")
        home = fresh_home(base, f"hist_{history}")
        first = DAY - timedelta(days=history)
        for i in range(history):
            d = first + timedelta(days=i)
            stage("generate", str(home / "landing" / "usage" / f"dt={d}"), d.isoformat(), str(n), str(CUSTOMERS), "0")
            stage("ingest", str(home), d.isoformat(), env=mem_env)
        t = time.perf_counter()
        dbt_build(home, None)  # history built once (no run_date: every line)
        history_build_s = time.perf_counter() - t
        # Day N's daily run, as production would have run it: it builds the push input's carried
        # state (after a build without run_date the state is empty and is rebuilt once).
        _, per_node_n = dbt_build(home, DAY - timedelta(days=1))
        stage("generate", str(home / "landing" / "usage" / f"dt={DAY}"), DAY.isoformat(), str(n), str(CUSTOMERS), "0")
        ingest = stage("ingest", str(home), DAY.isoformat(), env=mem_env)
        build, per_node = dbt_build(home, DAY)
        # The same day again (idempotent; the state has nothing new to carry): a second sample
        # of each model's time on a machine whose load moves from minute to minute.
        _, per_node_again = dbt_build(home, DAY)
        out[label] = {
            "history_days": history, "history_build_s": history_build_s, "ingest": ingest,
            "build": build, "models": {k: model_seconds(per_node, v) for k, v in STAGES.items()},
            "tests_s": test_seconds(per_node), "counts": counts(home),
            "state_rebuild_s": model_seconds(per_node_n, ["int_usage_cumulative_before_window"]),
            "state_carry_s": model_seconds(per_node, ["int_usage_cumulative_before_window"]),
            "rerun_models": {k: model_seconds(per_node_again, v) for k, v in STAGES.items()},
        }
        shutil.rmtree(home, ignore_errors=True)
    return out


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import duckdb

    return (f"{os.cpu_count()} cores, {mem:.1f} GiB RAM, {platform.platform()}, Python "
            f"{platform.python_version()}, DuckDB {duckdb.__version__}; load average at start "
            f"{os.getloadavg()[0]:.1f} (the machine is shared with other work)")


def markdown_size(r: dict) -> str:
    n = r["events"]
    floor = r["floor"].seconds
    chain = r["ingest"].seconds + sum(r["models"].values())
    lines = [
        f"### {n:,} events ({r['lines']:,} lines) in one landing day",
        "",
        f"Parquet {r['parquet_bytes'] / 2**20:.0f} MiB, "
        + (f"NDJSON.gz {r['ndjson_bytes'] / 2**20:.0f} MiB; " if "ndjson_bytes" in r else "NDJSON.gz not generated (--skip-ndjson); ")
        + f"generated in {r['generate_s']:.1f} s. Counts: {r['counts']}.",
        "",
        f"Floor runs (before ingest, before and after dbt build): "
        f"{', '.join(f'{m.seconds:.2f} s' for m in r['floors'])}; the median is the floor. "
        f"CPU seconds (user + system of the stage's process) are less swayed by the machine's "
        f"other work than wall seconds.",
        "",
        "| stage | seconds | × floor | events/s | peak RSS (MiB) | CPU s | CPU × floor CPU |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| floor: read → dedupe → aggregate (one DuckDB query) | {floor:.2f} | 1.00 | {n / floor:,.0f} | {r['floor'].max_rss_mib:,.0f} | {r['floor'].cpu_seconds:.2f} | 1.00 |",
        f"| ingest Parquet → raw.usage_events | {r['ingest'].seconds:.2f} | {r['ingest'].seconds / floor:.2f} | {n / r['ingest'].seconds:,.0f} | {r['ingest'].max_rss_mib:,.0f} | {r['ingest'].cpu_seconds:.2f} | {r['ingest'].cpu_seconds / r['floor'].cpu_seconds:.2f} |",
    ]
    for name, secs in r["models"].items():
        lines.append(f"| dbt model: {name} | {secs:.2f} | {secs / floor:.2f} | {n / max(secs, 1e-9):,.0f} | (in dbt) |")
    lines += [
        f"| dbt models: rating ({', '.join(RATING)}; beside the chain) | {r['rating_s']:.2f} | {r['rating_s'] / floor:.2f} | | (in dbt) |",
        f"| dbt tests (all data + unit tests of the run) | {r['tests_s']:.2f} | {r['tests_s'] / floor:.2f} | | (in dbt) |",
        f"| **ingest through push input** (ingest + the four models) | **{chain:.2f}** | **{chain / floor:.2f}** | {n / chain:,.0f} | |",
        f"| dbt build, wall (start-up, all models, all tests) | {r['build'].seconds:.2f} | {r['build'].seconds / floor:.2f} | | {r['build'].max_rss_mib:,.0f} | {r['build'].cpu_seconds:.2f} | {r['build'].cpu_seconds / r['floor'].cpu_seconds:.2f} |",
        f"| **whole daily run**: ingest + dbt build, wall | **{r['ingest'].seconds + r['build'].seconds:.2f}** | **{(r['ingest'].seconds + r['build'].seconds) / floor:.2f}** | {n / (r['ingest'].seconds + r['build'].seconds):,.0f} | {max(r['ingest'].max_rss_mib, r['build'].max_rss_mib):,.0f} |",
        (f"| ingest NDJSON.gz → raw.usage_events (same day) | {r['ingest_ndjson'].seconds:.2f} | {r['ingest_ndjson'].seconds / floor:.2f} | {n / r['ingest_ndjson'].seconds:,.0f} | {r['ingest_ndjson'].max_rss_mib:,.0f} |"
         if "ingest_ndjson" in r else "| ingest NDJSON.gz → raw.usage_events (same day) | not run (--skip-ndjson) | | | |"),
        "",
    ]
    return "\n".join(lines)


def markdown_history(h: dict, n: int) -> str:
    labels = list(h)
    rows = [
        ("ingest day N+1", lambda r: r["ingest"].seconds),
        *[(f"dbt model: {k}", lambda r, k=k: r["models"][k]) for k in STAGES],
        ("(of which the carried state)", lambda r: r["state_carry_s"]),
        *[(f"rerun of day N+1, dbt model: {k}", lambda r, k=k: r["rerun_models"][k]) for k in STAGES],
        ("dbt tests", lambda r: r["tests_s"]),
        ("dbt build wall", lambda r: r["build"].seconds),
        ("whole day N+1 (ingest + dbt build)", lambda r: r["ingest"].seconds + r["build"].seconds),
    ]
    out = [
        f"### Day N+1 ({n:,} events) after {' vs '.join(labels)} of history",
        "",
        "| seconds | " + " | ".join(f"{lab} of history" for lab in labels)
        + f" | ratio {labels[-1]} / {labels[0]} |",
        "|---|" + "---:|" * (len(labels) + 1),
    ]
    for name, f in rows:
        vals = [f(h[lab]) for lab in labels]
        ratio = vals[-1] / vals[0] if vals[0] else float("nan")
        out.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in vals) + f" | {ratio:.2f} |")
    out += ["", "History built once (no run_date) in "
            + ", ".join(f"{h[lab]['history_build_s']:.0f} s" for lab in labels)
            + "; day N's daily run then rebuilt the empty carried state in "
            + ", ".join(f"{h[lab]['state_rebuild_s']:.2f} s" for lab in labels)
            + " (once). Peak RSS of day N+1's dbt build: "
            + ", ".join(f"{h[lab]['build'].max_rss_mib:,.0f}" for lab in labels) + " MiB. "
            + "Counts after day N+1: " + "; ".join(f"{lab}: {h[lab]['counts']}" for lab in labels) + ".", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000000,10000000,50000000")
    p.add_argument("--history-days", type=int, default=0)
    p.add_argument("--history-also", default="",
                   help="more history lengths to measure between 1 and --history-days, e.g. 40")
    p.add_argument("--history-events", type=int, default=500_000)
    p.add_argument("--memory-limit", default=os.environ.get("TOLLGATE_DUCKDB_MEMORY_LIMIT", "6GB"),
                   help="DuckDB memory_limit for every stage (the floor included)")
    p.add_argument("--skip-ndjson", action="store_true",
                   help="Parquet path only: no NDJSON.gz generation or ingest (its peak memory grows with the day)")
    p.add_argument("--workdir", default=None, help="scratch space (default: a temp dir)")
    p.add_argument("--out", default=None, help="append the Markdown results to this file")
    args = p.parse_args(argv)
    mem_env = {"TOLLGATE_DUCKDB_MEMORY_LIMIT": args.memory_limit}
    os.environ.update(mem_env)
    base = Path(args.workdir or tempfile.mkdtemp(prefix="tollgate-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.run_bench " + " ".join(argv if argv is not None else sys.argv[1:])
    header = [f"## Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
              f"Machine: {machine()}. DuckDB memory_limit {args.memory_limit}.", "",
              f"Command: `{command}`", ""]
    print("\n".join(header), flush=True)
    sections = []
    for n in [int(s) for s in args.sizes.split(",") if s]:
        text = markdown_size(bench_size(base, n, mem_env, ndjson=not args.skip_ndjson))
        print(text, flush=True)
        sections.append(text)
    if args.history_days:
        lengths = sorted({1, args.history_days, *[int(x) for x in args.history_also.split(",") if x]})
        text = markdown_history(bench_history(base, lengths, args.history_events, mem_env),
                                args.history_events)
        print(text, flush=True)
        sections.append(text)
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    sections.append(f"Load average at end: {os.getloadavg()[0]:.1f}.\n")
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n".join(header + sections) + "\n")
    if not args.workdir:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
