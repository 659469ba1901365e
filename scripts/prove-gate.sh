#!/usr/bin/env bash
# Proves the performance gate (the baseline commit's code against the current tree, measured side by side), alternating:
#   RUNS gate runs on unchanged code            -> counts false alarms (target 0)
#   RUNS gate runs with designs slowed          -> counts detections of each slowed design (target RUNS each)
# The slowdown is the test-only knob MATCHBENCH_INJECT_SLOWDOWN (engines/slowdown-knob.ts); the gate passes it to
# the current tree's measuring processes only, so it slows the "change", never the baseline's code.
# The knob may slow several designs at once (mutex:0.10,sharded:0.07): the gate judges each design on its own runs,
# so one slowed gate run tests a detection for each. Every run's output is kept under reports/prove-gate-<time>/,
# and the counts are printed and written to summary.txt there.
# Usage: scripts/prove-gate.sh [RUNS] [DESIGN:FRACTION[,DESIGN:FRACTION...]]   (defaults: 20 mutex:0.10)
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-20}"
knob="${2:-mutex:0.10}"
# The slowed designs, e.g. "mutex sharded", and an alternation of them for grep, e.g. "mutex|sharded".
slowed=$(echo "$knob" | tr ',' '\n' | sed 's/:.*//' | tr '\n' ' ' | sed 's/ $//')
slowed_re=$(echo "$slowed" | tr ' ' '|')
out="reports/prove-gate-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"

# One gate run; prints its exit code. 0 = pass, 1 = fail, 3 = machine too busy to judge; anything else is a broken
# gate, which stops the proof.
gate() {
  local log="$1"
  shift
  local code=0
  env "$@" npm run --silent gate >"$log" 2>&1 || code=$?
  if [ "$code" -eq 4 ]; then
    echo "the gate cannot judge here (see $log): $(grep -m1 'CANNOT JUDGE' "$log")" >&2
    exit 2
  fi
  if [ "$code" -ne 0 ] && [ "$code" -ne 1 ] && [ "$code" -ne 3 ]; then
    echo "gate crashed (exit $code), see $log" >&2
    tail -20 "$log" >&2
    exit 2
  fi
  echo "$code"
}

# The metric line of a design from a gate log, e.g. "disruptor: throughput relative to inline −9.6 % (...)".
change_of() {
  grep -E "^(unchanged|regression|improvement) +$2:" "$1" | sed -E 's/^[a-z]+ +//' || true
}

# The machine's load average before and after a run, as the gate printed it.
load_of() {
  grep -oE 'load average (before|after): [0-9.]+' "$1" | sed -E 's/^load average (before|after): ([0-9.]+)/\1 \2/' | tr '\n' ' ' | sed 's/ $//'
}

false_alarms=0
declare -A detections
for d in $slowed; do detections[$d]=0; done
other_alarms=0
inconclusive=0
# Unchanged and slowed runs alternate, so a change in the machine's load falls on both halves alike.
for i in $(seq 1 "$runs"); do
  log="$out/unchanged-$i.log"
  code=$(gate "$log" MATCHBENCH_INJECT_SLOWDOWN=)
  if [ "$code" -eq 3 ]; then
    inconclusive=$((inconclusive + 1))
    verdict="inconclusive (machine busy)"
  elif [ "$code" -eq 1 ]; then
    false_alarms=$((false_alarms + 1))
    verdict="FALSE ALARM: $(grep -E '^(REGRESSION|equivalence failure)' "$log" | tr '\n' ' ')"
  else
    verdict="pass"
  fi
  changes=$(for d in $slowed; do change_of "$log" "$d"; done | tr '\n' ' ')
  echo "unchanged $i/$runs: $verdict | $changes| load $(load_of "$log")" | tee -a "$out/summary.txt"

  log="$out/slowed-$i.log"
  code=$(gate "$log" MATCHBENCH_INJECT_SLOWDOWN="$knob")
  if [ "$code" -eq 3 ]; then
    inconclusive=$((inconclusive + 1))
    verdict="inconclusive (machine busy)"
  else
    verdict=""
    for d in $slowed; do
      if grep -q "^REGRESSION $d:" "$log"; then
        detections[$d]=$((detections[$d] + 1))
        verdict="$verdict $d caught;"
      else
        verdict="$verdict $d MISSED;"
      fi
    done
  fi
  if grep -E '^(REGRESSION|equivalence failure)' "$log" | grep -Evq "^REGRESSION ($slowed_re):"; then
    other_alarms=$((other_alarms + 1))
    verdict="$verdict plus another failure: $(grep -E '^(REGRESSION|equivalence failure)' "$log" | grep -Ev "^REGRESSION ($slowed_re):" | tr '\n' ' ')"
  fi
  changes=$(for d in $slowed; do change_of "$log" "$d"; done | tr '\n' ' ')
  echo "slowed $i/$runs ($knob):$verdict (exit $code) | $changes| load $(load_of "$log")" | tee -a "$out/summary.txt"
done

{
  echo
  echo "false alarms on unchanged code: $false_alarms of $runs"
  for d in $slowed; do echo "detections of $d slowed ($knob): ${detections[$d]} of $runs"; done
  echo "other designs failing in the slowed runs: $other_alarms of $runs"
  echo "runs the gate declined to judge because the machine was busy: $inconclusive of $((2 * runs))"
  echo "rounds discarded for other processes' load, over all runs: $(grep -ho '^[0-9]* rounds discarded' "$out"/*.log | awk '{s += $1} END {print s + 0}')"
} | tee -a "$out/summary.txt"
all_caught=true
for d in $slowed; do [ "${detections[$d]}" -eq "$runs" ] || all_caught=false; done
[ "$false_alarms" -eq 0 ] && [ "$all_caught" = true ]
