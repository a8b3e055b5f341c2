#!/usr/bin/env bash
# Works from a wheel: build geokeras' sdist and wheel (`python -m build`: the wheel is built from the sdist,
# so both are checked), install the wheel WITH its declared dependencies into a fresh venv outside the
# repository, and from an empty folder run what a new user runs first: `geokeras denoise` (default model) on
# a record shipped in the package, `geokeras evaluate`, and the demo. Then check that data the wheel does not
# ship is refused with an error naming what is missing.
#
# Usage: bash .ci/wheel_check.sh   (or `make wheel-check`). PYTHON builds the wheel and must have `build`
# (the `test` extra); default .venv/bin/python. The fresh venv is made from PYTHON's base interpreter.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
work=$(mktemp -d "${TMPDIR:-/tmp}/geokeras-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS
step() { echo "== wheel check [$((SECONDS - start)) s]: $*"; }
fail() { echo "wheel check FAILED: $*" >&2; exit 1; }
run_logged() {  # run a command with its output in $work/log; show the log's tail if it fails
  "$@" >"$work/log" 2>&1 || { tail -n 40 "$work/log" >&2; fail "$*"; }
}

step "build sdist and wheel"
run_logged "$python" -m build --outdir "$work/dist" "$repo"
wheel=$(ls "$work"/dist/geokeras-*.whl)
"$python" - "$wheel" <<'EOF' || fail "wheel contents"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
size = sum(i.compress_size for i in zipfile.ZipFile(sys.argv[1]).infolist())
need = ["geokeras/pretrained/default.keras"] + [
    f"geokeras/data/bundled-datasets/{name}" for name in
    ("ncedc-events/index.csv", "phasenet-events/index.csv", "ncedc-noisy/index.csv", "LICENSE-DeepDenoiser-data.txt",
     "LICENSE-PhaseNet-data.txt")]
missing = [n for n in need if n not in names]
stray = [n for n in names if not n.startswith(("geokeras/", "geokeras-"))]
mseed = sum(n.endswith(".mseed") for n in names)
print(f"   {sys.argv[1].rsplit('/', 1)[-1]}: {size / 1e6:.2f} MB, {len(names)} files ({mseed} MiniSEED records)")
if missing or stray or size > 8e6:
    sys.exit(f"missing {missing}, outside the package {stray[:5]}, size {size} bytes (limit 8 MB)")
EOF

step "install the wheel and its dependencies into a fresh venv"
run_logged "$python" -m venv "$work/venv"  # from PYTHON's base interpreter: none of its packages
run_logged "$work/venv/bin/python" -m pip install --no-compile --disable-pip-version-check "$wheel"
run_logged "$work/venv/bin/python" -m pip check

mkdir "$work/user" && cd "$work/user"  # an empty folder: nothing of the repository is reachable
export PATH="$work/venv/bin:$PATH" KERAS_BACKEND=tensorflow MPLBACKEND=Agg
unset PYTHONPATH GEOKERAS_DATASETS VIRTUAL_ENV
python - "$work/venv" <<'EOF' || fail "geokeras or its data resolved outside the venv"
import sys
import geokeras
from geokeras.data import datasets
for what in (geokeras.__file__, datasets.datasets_dir()):
    print(f"   {what}")
    assert str(what).startswith(sys.argv[1]), what
EOF
record=$(python -c "from geokeras.data import datasets as d; print(min((d.datasets_dir() / 'ncedc-noisy').glob('*.mseed')))")

step "geokeras denoise (default model) on a shipped record"
run_logged geokeras denoise "$record" -o denoised
python - "$record" denoised/*.mseed <<'EOF' || fail "geokeras denoise output"
import sys, numpy as np, obspy
(a,), (b,) = obspy.read(sys.argv[1]), obspy.read(sys.argv[2])  # one trace in, one trace out
assert (a.id, a.stats.starttime, a.stats.sampling_rate, a.stats.npts) == (b.id, b.stats.starttime,
                                                                          b.stats.sampling_rate, b.stats.npts)
assert np.all(np.isfinite(b.data)) and not np.array_equal(a.data, b.data)
EOF
tail -n 1 "$work/log"

step "geokeras evaluate default (8 windows at 0 dB)"
run_logged geokeras evaluate default --n-per-level 8 --snr-levels 0
grep -q "^| default | 0" "$work/log" || fail "geokeras evaluate printed no row for the model"
grep "^| default | 0" "$work/log"

step "python -m geokeras.demo"
run_logged python -m geokeras.demo --outdir demo_output
[ "$(ls demo_output/*.png | wc -l)" -eq 2 ] || fail "the demo did not write its two figures"
tail -n 1 "$work/log"

step "geokeras train on the bundled data (not shipped) is refused with an error naming what is missing"
if timeout 300 geokeras train -o model.keras --epochs 1 --steps-per-epoch 1 >"$work/log" 2>&1; then
  fail "geokeras train on the bundled data succeeded from the wheel, which ships only the test stations"
fi
grep -q "requested records of dataset 'ncedc-events' are missing .*GEOKERAS_DATASETS" "$work/log" \
  || { tail -n 5 "$work/log" >&2; fail "unclear error for data the wheel does not ship"; }
[ ! -e model.keras ] || fail "geokeras train wrote model.keras"
grep "requested records of dataset" "$work/log" | cut -c 1-200

step "passed"
