#!/bin/sh
# run-kernel-tests.sh PLAN [TEST-OPTIONS...]
#
# Runs every kernel test listed in PLAN, each in its own process with
# `--ignored --exact NAME --test-threads=1` (kernel tests are #[ignore]d so
# that plain `cargo test` lists them without running them; one at a time
# because they share one kernel sequencer; one process each so that a crash,
# a hang or a leftover client cannot take the tests after it along). The
# same script runs natively (host has /dev/snd/seq) and inside the qemu VM,
# so both paths behave alike. PLAN has one line per test, tab-separated:
#     <source path> <package dir> <executable> <test name>
# (`cargo xtask test` lists the tests, with the name filters, on the host).
# TEST-OPTIONS go to every test (e.g. --nocapture); filters are already
# applied by the plan. Every test runs even when an earlier one fails (a VM
# boot is too dear to stop at the first failure); the exit status is 0 only
# if all passed. Each test gets PHASORSYNC_TEST_TIMEOUT seconds (default
# 600), so one hung test cannot eat the whole VM's time. At the end, the
# panic message of each failed test is printed again, together: a long log
# shown in part still says why.
set -u
plan=${1:?usage: run-kernel-tests.sh PLAN [TEST-OPTIONS...]}
shift
tab=$(printf '\t')
limit=${PHASORSYNC_TEST_TIMEOUT:-600}
ran=0
failed=""
out=$(mktemp) || exit 1
why=$(mktemp) || exit 1
trap 'rm -f "$out" "$out.rc" "$why"' EXIT
while IFS="$tab" read -r src dir exe name; do
  [ -n "$name" ] || continue
  ran=$((ran + 1))
  started=$(date +%s)
  echo "     Running $name ($src)"
  # stdin from /dev/null: the loop reads the plan on stdin. cargo runs test
  # binaries in the package directory with CARGO_MANIFEST_DIR set; do the same.
  # Its output is shown as it comes and kept for the summary.
  { (cd "$dir" && CARGO_MANIFEST_DIR="$dir" exec timeout -k 10 "$limit" \
    "$exe" --ignored --exact "$name" --test-threads=1 "$@") < /dev/null 2>&1
    echo $? > "$out.rc"; } | tee "$out"
  rc=$(cat "$out.rc")
  if [ "$rc" -ne 0 ]; then
    # The panic and its message, up to the backtrace (at most 30 lines).
    { echo "---- $name"
      awk '/panicked at/ { p = 1 } /^stack backtrace:|^note: / { p = 0 } p' "$out" | head -n 30
    } >> "$why"
  fi
  took=$(($(date +%s) - started))
  case $rc in
    0) echo "     passed $name in $took s" ;;
    124 | 137) echo "kernel tests: $name timed out after $limit s"
       failed="$failed $name(timeout)" ;;
    *) echo "kernel tests: $name FAILED (exit $rc) after $took s"
       failed="$failed $name(exit $rc)" ;;
  esac
done < "$plan"

if [ "$ran" -eq 0 ]; then
  echo "kernel tests: the plan $plan lists no test"
  exit 1
fi
if [ -n "$failed" ]; then
  echo "kernel tests: why they failed:"
  cat "$why"
  echo "kernel tests: $ran run, FAILED:$failed"
  exit 1
fi
echo "kernel tests: all $ran passed"
