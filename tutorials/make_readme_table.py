"""Run tutorials and regenerate the results table of ``tutorials/README.md`` from what they print.

One command writes the table, so its numbers are always the ones a run printed::

    python tutorials/make_readme_table.py              # every tutorial, full mode
    python tutorials/make_readme_table.py 09 10        # only these; the other rows are kept
    python tutorials/make_readme_table.py --fast       # fast mode (what CI runs)
    python tutorials/make_readme_table.py --no-run     # rewrite the table from results.json only

Each run records, in ``tutorials/results.json``: the ``RESULT`` line the script printed, its mode
(full or fast), wall time, the load average before and after (``os.getloadavg``, as ``uptime``
prints it), the UTC date and the first 10 hex digits of the script's sha256 (stable across rebases:
compare with ``sha256sum tutorials/NN_*.py`` to see whether a row is from the current script). The README section between the ``results:begin`` and
``results:end`` markers is then rewritten from that file: claim (the script's ``Description:``
header), measured result, mode, time and load. A tutorial that fails is reported and keeps its
previous row; the command then exits with status 1.
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
RESULTS = HERE / "results.json"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def scripts():
    return sorted(HERE.glob("[0-9][0-9]_*.py"))


def description(script):
    match = re.search(r"^Description:\s*(.+)$", script.read_text(), re.MULTILINE)
    return match.group(1).strip() if match else ""


def script_hash(script):
    return hashlib.sha256(script.read_bytes()).hexdigest()[:10]


def run(script, fast):
    env = dict(os.environ, GEOKERAS_FIGURES=str(HERE / "figures"), KERAS_BACKEND="tensorflow",
               MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("GEOKERAS_FAST", None)
    if fast:
        env["GEOKERAS_FAST"] = "1"
    digest = script_hash(script)  # of the code that runs (taken before the run)
    load_before = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, script.name], cwd=HERE, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(f"{script.name} failed (exit {proc.returncode}):\n"
                         f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}\n")
        return None
    return {
        "result": lines[-1][len("RESULT "):],
        "mode": "fast" if fast else "full",
        "seconds": round(seconds, 1),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "script_sha256": digest,
    }


def table(results):
    rows = ["| Tutorial | Claim (the script's description) | Measured (its RESULT line) | Mode, time, load | Run |",
            "|---|---|---|---|---|"]
    for script in scripts():
        r = results.get(script.name)
        measured = r["result"].replace("|", "\\|") if r else "not run yet"
        run_info = ""
        if r:
            run_info = f"{r['mode']}, {r['seconds']:.0f} s, load {r['load_before'][0]:.1f}→{r['load_after'][0]:.1f}"
        when = f"{r['date_utc']}, sha256 {r['script_sha256']}" if r else ""
        claim = description(script).replace("|", "\\|")
        rows.append(f"| [{script.name}]({script.name}) | {claim} | {measured} | {run_info} | {when} |")
    return "\n".join(rows)


def write_readme(results):
    text = README.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{README} lacks the {BEGIN} / {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{BEGIN}\n{table(results)}\n{END}{tail}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("numbers", nargs="*", help="two-digit tutorial numbers (default: all)")
    parser.add_argument("--fast", action="store_true", help="GEOKERAS_FAST=1 runs")
    parser.add_argument("--no-run", action="store_true", help="only rewrite the table from results.json")
    args = parser.parse_args(argv)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    chosen = [s for s in scripts() if not args.numbers or s.name[:2] in args.numbers]
    failed = []
    if not args.no_run:
        for script in chosen:
            print(f"== {script.name} ({'fast' if args.fast else 'full'})", flush=True)
            record = run(script, args.fast)
            if record is None:
                failed.append(script.name)
                continue
            print(f"   {record['seconds']:.0f} s: {record['result']}", flush=True)
            # Re-read before writing, so that two runs on different tutorials do not drop each other's rows.
            results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
            results[script.name] = record
            RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    write_readme(results)
    if failed:
        print("failed:", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
