#!/bin/sh
# Runs each fuzz target in turn, one job on one core, until it has done RUNS executions or
# SECONDS seconds have passed, whichever comes first (HARDENING.md, "Fuzzing").
#
#   fuzz/run.sh [SECONDS [RUNS [TARGET...]]]     defaults: 1800 10000000, every target
#
# New inputs go to fuzz/scratch/<target>/ (the committed seeds in fuzz/corpus/<target>/ are
# read only); each run's libFuzzer output to fuzz/logs/<target>.log; a crash to
# fuzz/artifacts/<target>/. Needs cargo-fuzz and a nightly toolchain.
set -eu
cd "$(dirname "$0")"
seconds=${1:-1800}
runs=${2:-10000000}
[ $# -ge 2 ] && shift 2 || shift $#
targets=${*:-cookie authorization jwt params config cors_csrf engine}
dict() {
    case $1 in
        jwt) echo dict/jwt.dict ;;
        params) echo dict/params.dict ;;
        config) echo dict/config.dict ;;
        *) echo dict/http.dict ;;
    esac
}
# Debug assertions on (-a); no sanitizer (-s none): canister-core forbids unsafe code, and
# the executions are worth more than ASan's checks of the dependencies' unsafe code.
cargo +nightly fuzz build -a -s none
mkdir -p logs
for target in $targets; do
    mkdir -p "scratch/$target"
    start=$(date +%s)
    status=0
    cargo +nightly fuzz run -a -s none "$target" "scratch/$target" "corpus/$target" -- \
        -jobs=1 -workers=1 -runs="$runs" -max_total_time="$seconds" -timeout=5 \
        -dict="$(dict "$target")" >"logs/$target.log" 2>&1 || status=$?
    end=$(date +%s)
    done_line=$(grep '^Done ' "logs/$target.log" | tail -n 1 || true)
    echo "$target: exit $status, $((end - start)) s, ${done_line:-no Done line}"
done
