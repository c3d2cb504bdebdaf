"""Is bulk.BackgroundWriter worth its thread? The customers import's commit with the writer as
it is (a batch's COPY runs in a thread while the next batch is read and checked) against the
same writer made to wait for its writes at once (no overlap), on the same file, alternating the
order each round, each run in a fresh process into an empty table.

Reuses bench/import_export.py's database, tenant, file and child (`ours-customers`: the wizard's
dry run then commit, inline). Prints every run and the commit times of each side.

    .venv/bin/python bench/import_writer_overlap.py [--customers 30000] [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness as bench_harness
from bench import import_export as harness


def child_main(argv: list[str]) -> int:
    """In the child: the import_export child, with the writer waiting at once when told."""
    args = harness.parse_args(argv)
    harness.setup_django(json.loads(os.environ["BENCH_IMPORT_ENV"]))
    if os.environ.get("BENCH_WRITER") == "waiting":
        from crm.transfer import bulk

        overlapping = bulk.BackgroundWriter.submit

        def submit_and_wait(self: bulk.BackgroundWriter, operations: list[Any]) -> None:
            overlapping(self, operations)
            self.wait()

        bulk.BackgroundWriter.submit = submit_and_wait  # type: ignore[method-assign]
    result = harness.measure(args.child, args.schema, Path(args.path))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def run(environment: dict[str, str], schema: str, path: Path, writer: str) -> dict[str, float]:
    env = dict(os.environ, BENCH_IMPORT_ENV=json.dumps(environment), BENCH_WRITER=writer)
    command = [sys.executable, __file__, "--child", "ours-customers", "--schema", schema]
    done = subprocess.run(
        [*command, "--path", str(path)], env=env, capture_output=True, text=True, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        print(done.stdout[-2000:], done.stderr[-3000:], sep="\n")
        raise SystemExit(f"{writer} failed ({done.returncode})")
    result: dict[str, float] = json.loads(lines[-1][len("RESULT ") :])
    print(f"  {writer}: commit {result['commit']:.2f} s, dry run {result['check']:.2f} s")
    return result


def main() -> int:
    if "--child" in sys.argv:
        return child_main(sys.argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--db-name", default="crm_bench_writer")
    args = parser.parse_args()
    bench_url, admin_url = bench_harness.bench_urls(args.db_name)
    bench_harness.recreate_database(admin_url, args.db_name)
    commits: dict[str, list[float]] = {"overlapping": [], "waiting": []}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-writer-") as tmp:
            folder = Path(tmp)
            (folder / "private").mkdir()
            environment = harness.app_environment(bench_url, folder / "private")
            harness.setup_django(environment)
            schema = harness.build_tenant()
            csv_path, _xlsx = harness.write_customer_files(folder, args.customers)
            for round_ in range(args.rounds):
                order = ["overlapping", "waiting"][:: 1 if round_ % 2 == 0 else -1]
                for writer in order:
                    harness.empty_tables(schema)
                    commits[writer].append(run(environment, schema, csv_path, writer)["commit"])
    finally:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        bench_harness.drop_database(admin_url, args.db_name)
    for writer, times in commits.items():
        runs = sorted(round(t, 2) for t in times)
        print(f"{writer}: median {statistics.median(times):.2f} s, {runs}")
    ratio = statistics.median(commits["waiting"]) / statistics.median(commits["overlapping"])
    print(f"waiting / overlapping = {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
