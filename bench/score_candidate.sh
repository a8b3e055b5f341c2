#!/usr/bin/env bash
# Score a candidate network for the detection issue (15) by the rule of docs/detection_log.md ("Three more
# networks, chosen by a rule fixed before scoring"), on the validation stations only:
#
#   bash bench/score_candidate.sh NET.keras [FLOOR] [3c]   # FLOOR: the mask floor put on the network (default 0.3)
#
# Writes NET_fFLOOR.keras (the network with the floor, `bench/make_default_v4.py`) and three logs beside it:
#   .transients.log  recall with real noise transients put back (`bench_transients.py --repeats 2 --per-hour 5`),
#   .steady.log      recall on the steady model-choice set: since session 15 every validation station with a quiet
#                    noise window (17), 2 records each (`bench_detection.py`; before: 10 stations, 4 records each),
#   .quality.log     SNR gain, correlation and peak ratio on in-band mixtures (`bench_quality.py`).
# With `3c` (session 14), the two recall sets are also scored on three-component records under the median mask
# (`--components 3 --statistics median`; .3c.log, .transients3c.log), about 3 minutes more.
# The load average is printed between the steps. What ships runs beside the candidate in every set ("default": v4 on
# one trace; since session 15, under the median, the shipped three-component network components.keras; the scripts
# are seeded: the same records, events and windows for every candidate), and each recall set prints the candidate's
# recall minus the shipped network's on the same events with a 95 % interval from resampling the noise and event
# stations (`--compare`; docs/detection_log.md, "Session 15": a candidate replaces what ships only where that interval lies
# above 0). Each table is printed whole whatever its rows (the Wiener baseline's since session 16). About 8 minutes
# on the idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
NET=$1
FLOOR=${2:-0.3}
THREE=${3:-}
if [ -n "$THREE" ] && [ "$THREE" != 3c ]; then
    echo "unknown third argument $THREE (expected 3c)" >&2
    exit 2
fi
PY=${PYTHON:-.venv/bin/python}
export KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3 MPLBACKEND=Agg
OUT=${NET%.keras}_f${FLOOR}
"$PY" bench/make_default_v4.py "$NET" -o "$OUT.keras" --floor "$FLOOR"
echo "load $(cut -d' ' -f1-3 /proc/loadavg): transients"
"$PY" bench/bench_transients.py default "$OUT.keras" --repeats 2 --per-hour 5 --compare default > "$OUT.transients.log" 2>&1
echo "load $(cut -d' ' -f1-3 /proc/loadavg): steady set"
"$PY" bench/bench_detection.py default "$OUT.keras" --split validation --stations 17 --min-noise-s 25 --repeats 2 \
    --levels -15 -10 -5 0 5 --compare default > "$OUT.steady.log" 2>&1
echo "load $(cut -d' ' -f1-3 /proc/loadavg): in-band mixtures"
"$PY" bench/bench_quality.py "$OUT.keras" --split validation --conditions inband --n-per-level 100 --no-noisy \
    > "$OUT.quality.log" 2>&1
if [ "$THREE" = 3c ]; then
    echo "load $(cut -d' ' -f1-3 /proc/loadavg): three-component steady set"
    "$PY" bench/bench_detection.py default "$OUT.keras" --split validation --stations 10 --min-noise-s 55 --repeats 4 \
        --levels -15 -10 -5 0 5 --components 3 --statistics median --compare "default 3c-median" > "$OUT.3c.log" 2>&1
    echo "load $(cut -d' ' -f1-3 /proc/loadavg): three-component transients"
    "$PY" bench/bench_transients.py default "$OUT.keras" --repeats 2 --per-hour 5 --components 3 \
        --compare "default 3c-median" > "$OUT.transients3c.log" 2>&1
fi
echo "load $(cut -d' ' -f1-3 /proc/loadavg): done; recall tables:"
block() {  # the lines of "$2" from the first one holding "$1" to the next blank line (one table, however many rows)
    awk -v pat="$1" 'index($0, pat) { p = 1 } p && /^$/ { p = 0 } p' "$2"
}
NAME=$(basename "$OUT")
for log in "$OUT.transients.log" "$OUT.steady.log"; do
    block "recursive_sta_lta at <= 2" "$log" | grep -E "^\| (raw|$NAME)"
done
block "peak-amplitude" "$OUT.steady.log" | grep "$NAME"
grep "(inband) | all" "$OUT.quality.log" | head -1
echo "recall minus v4's on one trace, points [95 % interval, noise and event stations resampled] (transients, steady):"
for log in "$OUT.transients.log" "$OUT.steady.log"; do
    block "recall minus default's on the same events, points [95% interval, stations" "$log" | grep "^| $NAME"
done
if [ "$THREE" = 3c ]; then
    echo "three components, median (steady set, then transients):"
    for log in "$OUT.3c.log" "$OUT.transients3c.log"; do
        block "recursive_sta_lta at <= 2" "$log" | grep -E "^\| (raw|$NAME(.keras)? 3c-median)"
    done
    block "peak-amplitude" "$OUT.3c.log" | grep "$NAME.keras 3c-median"
    echo "recall minus the shipped three-component network's under the median, points [95 % interval] (steady, then transients):"
    for log in "$OUT.3c.log" "$OUT.transients3c.log"; do
        block "recall minus default 3c-median's on the same events, points [95% interval, stations" "$log" \
            | grep "^| $NAME.keras 3c-median"
    done
fi
