#!/usr/bin/env bash
# Score a candidate network for the detection issue (15) by the rule of the model card ("Three more networks, chosen
# by a rule fixed before scoring"), on the validation stations only:
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
# The load average is printed between the steps. v4 runs beside the candidate in every set (the scripts are seeded:
# the same records, events and windows for every candidate), and each recall set prints the candidate's recall
# minus v4's on the same events with a 95 % interval from resampling the noise and event stations (`--compare`;
# model card, "Session 15": a candidate replaces v4 only where that interval lies above 0). About 8 minutes on the
# idle machine.
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
grep -h -A8 "recursive_sta_lta at <= 2" "$OUT.transients.log" "$OUT.steady.log" | grep -E "^\| (raw|$(basename "$OUT"))"
grep -A7 "peak-amplitude" "$OUT.steady.log" | grep "$(basename "$OUT")"
grep "(inband) | all" "$OUT.quality.log" | head -1
echo "recall minus v4's on the same events, points [95 % interval, noise and event stations resampled] (transients, steady):"
for log in "$OUT.transients.log" "$OUT.steady.log"; do
    grep -A6 "recall minus default's on the same events, points \[95% interval, stations" "$log" | grep "^| $(basename "$OUT")"
done
if [ "$THREE" = 3c ]; then
    echo "three components, median (steady set, then transients):"
    grep -h -A9 "recursive_sta_lta at <= 2" "$OUT.3c.log" "$OUT.transients3c.log" | grep -E "^\| (raw|$(basename "$OUT")(.keras)? 3c-median)"
    grep -A9 "peak-amplitude" "$OUT.3c.log" | grep "$(basename "$OUT").keras 3c-median"
    echo "recall minus v4's under the median, points [95 % interval] (steady, then transients):"
    for log in "$OUT.3c.log" "$OUT.transients3c.log"; do
        grep -A9 "recall minus default 3c-median's on the same events, points \[95% interval, stations" "$log" \
            | grep "^| $(basename "$OUT").keras 3c-median"
    done
fi
