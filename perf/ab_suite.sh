#!/usr/bin/env bash
# A/B of the default test suite: an earlier commit against this checkout, alternated in the same hour
# (this host's speed drifts by a third within a day, so only runs side by side compare).
#
#   bash perf/ab_suite.sh OLD_COMMIT [ROUNDS]      (default 3 rounds; about 6 minutes a round here)
#
# OLD_COMMIT is cloned into a temporary folder and installed (editable, --no-deps) into its own venv that
# sees this interpreter's packages; both suites first run once to fill their Numba caches. Each run prints
# pytest's summary line and `/usr/bin/time`'s wall and CPU; compare the medians. Results: perf/README.md.
set -euo pipefail
old=${1:?usage: bash perf/ab_suite.sh OLD_COMMIT [ROUNDS]}
rounds=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$here" "$work/old"
git -C "$work/old" checkout -q "$old"
python -m venv --system-site-packages "$work/venv"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$work/old"
# the tests' data locator looks for ../shared beside each checkout: point both at the same data
export SORTSLICE_DATA=${SORTSLICE_DATA:-$here/../shared/data}

run() {  # label folder python
  # a failing run is reported (pytest's summary names the failures), not the end of the A/B
  (cd "$2" && /usr/bin/time -f "$1: wall %e s, cpu %U+%S s" "$3" -m pytest -q -p no:cacheprovider -r f 2>&1 |
    grep -E "^(FAILED|ERROR) |passed|failed|wall " | tr '\n' ' ') || true
  echo
}
run "old $old (warm-up)" "$work/old" "$work/venv/bin/python"
run "new $(git -C "$here" rev-parse --short HEAD) (warm-up)" "$here" python
for r in $(seq "$rounds"); do
  run "new round $r" "$here" python
  run "old round $r" "$work/old" "$work/venv/bin/python"
done
