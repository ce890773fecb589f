#!/bin/sh
# run-kernel-tests.sh PLAN [TEST-ARGS...]
#
# Runs every kernel test binary listed in PLAN with `--ignored --test-threads=1`
# (kernel tests are #[ignore]d so that plain `cargo test` lists them without
# running them; one thread because they share one kernel sequencer). The same
# script runs natively (host has /dev/snd/seq) and inside the qemu VM, so both
# paths behave alike. PLAN has one line per binary, tab-separated:
#     <source path> <package dir> <executable>
# Every binary runs even when an earlier one fails (a VM boot is too dear to
# stop at the first failure); the exit status is 0 only if all passed.
# Each binary gets PHASORSYNC_TEST_BINARY_TIMEOUT seconds (default 600), so
# one hung test cannot eat the whole VM's time.
set -u
plan=${1:?usage: run-kernel-tests.sh PLAN [TEST-ARGS...]}
shift
tab=$(printf '\t')
limit=${PHASORSYNC_TEST_BINARY_TIMEOUT:-600}
ran=0
failed=""
while IFS="$tab" read -r src dir exe; do
  [ -n "$exe" ] || continue
  ran=$((ran + 1))
  echo "     Running $src (${exe#"$dir"/})"
  # stdin from /dev/null: the loop reads the plan on stdin. cargo runs test
  # binaries in the package directory with CARGO_MANIFEST_DIR set; do the same.
  (cd "$dir" && CARGO_MANIFEST_DIR="$dir" exec timeout -k 10 "$limit" \
    "$exe" --ignored --test-threads=1 "$@") < /dev/null
  rc=$?
  case $rc in
    0) ;;
    124 | 137) echo "kernel tests: $src timed out after $limit s"
       failed="$failed $src(timeout)" ;;
    *) failed="$failed $src(exit $rc)" ;;
  esac
done < "$plan"

if [ "$ran" -eq 0 ]; then
  echo "kernel tests: the plan $plan lists no test binary"
  exit 1
fi
if [ -n "$failed" ]; then
  echo "kernel tests: FAILED in$failed"
  exit 1
fi
echo "kernel tests: $ran test binaries passed"
