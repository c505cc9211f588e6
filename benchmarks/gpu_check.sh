#!/usr/bin/env bash
# One prepared check of xpnn on a CUDA GPU: environment, test suite, main job, resume, benchmark.
#
#   bash benchmarks/gpu_check.sh                      # on a machine with a GPU, CuPy and torch
#   bash benchmarks/gpu_check.sh --dry-run            # the same steps on the CPU (CI runs this)
#   bash benchmarks/gpu_check.sh --report r.md --data-dir /data/mnist --budget 420
#   bash benchmarks/gpu_check.sh --wheels .gpu_carry/wheels   # install what is missing first
#
# For a machine with no network and nothing pip-installed: xpnn is imported from this
# checkout (PYTHONPATH = the repository root), with $PYTHON or the python3 on PATH. With
# --wheels DIR (made here by `python benchmarks/gpu_carry.py prepare`), the packages of
# DIR's wheels that this Python lacks are installed into a temporary folder on PYTHONPATH,
# with pip, from DIR alone. Steps:
#
#   0  environment: versions, devices, and every module xpnn and its tests need
#   1  the test suite on CuPy   (dry run: on the GPU stand-in and numpy, a subset of files)
#   2  the main job, 2 epochs   (dry run: numpy, --limit 5000)
#   3  resume_check.py          (dry run: array_api_strict on device1)
#   4  bench_gpu.py, full, --repeats 3 or --quick as the time left allows: MLP and convnet
#      epochs on CuPy, on torch CUDA (xpnn and PyTorch), launches per step (dry run: --dry-run)
#
# Each step runs under `timeout` within one budget (--budget seconds, default 450: under 8
# minutes in all); a failing step never stops the others. One Markdown report is written to
# --report (default gpu_check_report.md) and, when $OUT is set, copied there with the logs.
# The exit status is 0 only if every step passed.
set -u -o pipefail

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }

DRY=0
REPORT=gpu_check_report.md
DATA_DIR=""
BUDGET=450
WHEELS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY=1 ;;
        --report) REPORT=${2:?--report needs a path}; shift ;;
        --report=*) REPORT=${1#*=} ;;
        --data-dir) DATA_DIR=${2:?--data-dir needs a folder}; shift ;;
        --data-dir=*) DATA_DIR=${1#*=} ;;
        --budget) BUDGET=${2:?--budget needs seconds}; shift ;;
        --budget=*) BUDGET=${1#*=} ;;
        --wheels) WHEELS=${2:?--wheels needs a folder}; shift ;;
        --wheels=*) WHEELS=${1#*=} ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$BUDGET" in ''|*[!0-9]*) echo "gpu_check.sh: --budget takes whole seconds" >&2; exit 2 ;; esac

if [ -n "$WHEELS" ] && ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    echo "gpu_check.sh: --wheels $WHEELS: no wheels there (python benchmarks/gpu_carry.py prepare makes .gpu_carry/wheels)" >&2
    exit 2
fi
[ -n "$WHEELS" ] && WHEELS=$(cd "$WHEELS" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
    echo "gpu_check.sh: no Python: $PY not found (set PYTHON)" >&2
    exit 2
fi
mkdir -p "$(dirname "$REPORT")"
REPORT="$(cd "$(dirname "$REPORT")" && pwd)/$(basename "$REPORT")"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/xpnn-gpu-check.XXXXXX")
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
unset XPNN_BACKEND XPNN_TEST_BACKENDS # each step sets its own
cd "$ROOT" || exit 2

# -- the packages this Python lacks, from --wheels (before anything imports them)
WHEEL_NOTE="none given (--wheels)"
if [ -n "$WHEELS" ]; then
    if "$PY" benchmarks/gpu_carry.py install "$WHEELS" "$WORK/site" >"$WORK/wheels.log" 2>&1; then
        export PYTHONPATH="$ROOT:$WORK/site${PYTHONPATH#"$ROOT"}"
        WHEEL_NOTE="from $WHEELS: $(grep -c ': installing' "$WORK/wheels.log") installed, $(grep -c 'already installed' "$WORK/wheels.log") already there"
    else
        WHEEL_NOTE="installing from $WHEELS FAILED: $(tail -n 3 "$WORK/wheels.log" | tr '\n' ' ')"
    fi
    echo "== wheels: $WHEEL_NOTE"
fi

clock() { date +%s.%N; }
START=$(clock)
DEADLINE=$(awk -v s="$START" -v b="$BUDGET" 'BEGIN { printf "%d", s + b }')
left() { awk -v d="$DEADLINE" -v n="$(clock)" 'BEGIN { printf "%d", d - n }'; }
elapsed() { awk -v s="$1" -v n="$(clock)" 'BEGIN { printf "%.1f", n - s }'; }

TITLES=("environment" "test suite" "main job, 2 epochs" "resume check" "benchmark")
STATUS=(NOT-RUN NOT-RUN NOT-RUN NOT-RUN NOT-RUN)
SECS=("" "" "" "" "")
LIMITS=("" "" "" "" "")
CMDS=("" "" "" "" "")
NOTES=("" "" "" "" "")
if [ "$DRY" = 1 ]; then
    MODE="dry run on the CPU (stand-ins: no GPU result)"
    TITLES[1]="test suite on the GPU stand-in and numpy (a subset)"
else
    MODE="GPU"
    TITLES[1]="test suite on CuPy and numpy"
fi

# step_limit CAP RESERVE: seconds a step may take: at most CAP, keeping RESERVE seconds of the
# budget for the steps after it.
step_limit() {
    local limit=$(( $(left) - $2 ))
    [ "$limit" -gt "$1" ] && limit=$1
    echo "$limit"
}

# run_step INDEX LIMIT CMD... : run CMD under a timeout of LIMIT seconds; record its status,
# seconds and command line.
run_step() {
    local i=$1 limit=$2
    shift 2
    local rc t0
    CMDS[i]=$(printf '%q ' "$@")
    if [ "$limit" -lt 15 ]; then
        STATUS[i]=SKIPPED
        NOTES[i]+="no time left in the ${BUDGET} s budget. "
        return
    fi
    LIMITS[i]=$limit
    echo "== step $i: ${TITLES[i]} (limit ${limit} s)"
    echo "   ${CMDS[i]}"
    t0=$(clock)
    # SIGINT first: pytest then prints what failed so far, Python shows where it was.
    timeout -s INT -k 15 "$limit" "$@" >"$WORK/step$i.log" 2>&1
    rc=$?
    SECS[i]=$(elapsed "$t0")
    case $rc in
        0) STATUS[i]=PASS ;;
        124|137) STATUS[i]=TIMEOUT ;;
        *) STATUS[i]=FAIL ;;
    esac
    echo "   ${STATUS[i]} (exit $rc) in ${SECS[i]} s"
    if [ "$INTERRUPTED" = 1 ]; then
        NOTES[i]+="The check was interrupted (signal) during this step. "
        exit 130
    fi
    save_report "step $i of 0-4 done"
}

# tail_of FILE [N]: the last N lines, progress-bar carriage returns turned into lines.
tail_of() { tr '\r' '\n' <"$1" | grep -v '^[[:space:]]*$' | tail -n "${2:-60}"; }

# -- MNIST: --data-dir, $XPNN_DATA/mnist, shared/ beside or inside the checkout, the cache
find_mnist() {
    "$PY" - "$@" 2>/dev/null <<'EOF'
import sys

import xpnn

for folder in sys.argv[1:]:
    try:
        xpnn.load_mnist(data_dir=folder, download=False)
    except Exception:
        continue
    print(folder)
    break
EOF
}
MNIST=$(find_mnist ${DATA_DIR:+"$DATA_DIR"} ${XPNN_DATA:+"$XPNN_DATA/mnist"} \
    "$ROOT/.gpu_carry/mnist" "$ROOT/shared/datasets/mnist" "$ROOT/../shared/datasets/mnist" \
    "$HOME/.cache/xpnn/mnist")
if [ -n "$MNIST" ]; then
    MNIST=$(cd "$MNIST" && pwd -P)
    mkdir -p "$WORK/data" && ln -s "$MNIST" "$WORK/data/mnist"
    export XPNN_DATA="$WORK/data" # the tests read $XPNN_DATA/mnist
    DATA_NOTE="MNIST from $MNIST"
else
    unset XPNN_DATA # the real-MNIST tests then skip, saying so
    DATA_NOTE="MNIST not found (looked in ${DATA_DIR:-} \$XPNN_DATA/mnist, shared/datasets/mnist, ~/.cache/xpnn/mnist): the real-MNIST tests skip, the main job is skipped, resume check and benchmark use random data of MNIST's shape"
fi

# save_report [PROGRESS]: (re)write the report, final or (with PROGRESS) so far, and copy it
# and the logs to $OUT. Called after every step, so that even a kill leaves a report.
save_report() {
    local i all=PASS failed="" title
    for i in 0 1 2 3 4; do
        if [ "${STATUS[i]}" != PASS ]; then all=FAIL; failed+=" $i"; fi
    done
    title=$all
    [ -n "${1:-}" ] && title="IN PROGRESS ($1)"
    write_report "$title" "$failed" >"$REPORT.tmp" && mv -f "$REPORT.tmp" "$REPORT"
    if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
        cp "$REPORT" "$OUT/" && mkdir -p "$OUT/gpu_check_logs" &&
            cp "$WORK"/*.log "$WORK"/*.md "$OUT/gpu_check_logs/" 2>/dev/null
    fi
    RESULT=$all
}

finish() {
    local code=$?
    trap - EXIT
    [ "$INTERRUPTED" = 1 ] && code=130
    save_report
    rm -rf "$WORK"
    echo "== $RESULT in $(elapsed "$START") s; report: $REPORT"
    [ "$code" -ne 0 ] && [ "$code" -ne 1 ] && exit "$code" # interrupted, or the script broke
    [ "$RESULT" = PASS ] && exit 0
    exit 1
}
# A signal lets the running step end (under its timeout), records it, then stops.
INTERRUPTED=0
trap finish EXIT
trap 'INTERRUPTED=1' INT TERM

# -- the report ---------------------------------------------------------------------------
section() { # INDEX: the heading and command of a step
    local i=$1
    echo
    echo "## $i. ${TITLES[i]}: ${STATUS[i]}"
    echo
    if [ -n "${SECS[i]}" ]; then echo "${SECS[i]} s (limit ${LIMITS[i]} s)."; echo; fi
    if [ -n "${CMDS[i]}" ]; then echo "\`${CMDS[i]% }\`"; echo; fi
    if [ -n "${NOTES[i]}" ]; then echo "Note: ${NOTES[i]}"; echo; fi
}

failure_tail() { # INDEX: the end of a step's output, when it did not pass
    local i=$1 log="$WORK/step$1.log"
    if [ "${STATUS[i]}" != PASS ] && [ -f "$log" ]; then
        echo "Last lines of its output:"
        echo
        echo '```text'
        tail_of "$log" 60
        echo '```'
    fi
}

write_report() {
    local all=$1 failed=$2 i log lines summary
    echo "# xpnn GPU check: $all"
    echo
    echo "- mode: $MODE"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); host $(hostname 2>/dev/null || echo '?')"
    echo "- checkout: $ROOT, commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'unknown (no git)')"
    echo "- python: $PY ($(command -v "$PY"))"
    echo "- wheels: $WHEEL_NOTE"
    echo "- data: $DATA_NOTE"
    echo "- total: $(elapsed "$START") s of a ${BUDGET} s budget"
    if [ "$all" != PASS ]; then echo "- steps not passed:$failed"; fi
    echo
    echo "| step | status | seconds | limit s |"
    echo "|---|---|---|---|"
    for i in 0 1 2 3 4; do
        echo "| $i. ${TITLES[i]} | ${STATUS[i]} | ${SECS[i]:--} | ${LIMITS[i]:--} |"
    done

    section 0
    [ -f "$WORK/step0.log" ] && cat "$WORK/step0.log"

    section 1
    log="$WORK/step1.log"
    if [ -f "$log" ]; then
        summary=$(grep -E '(passed|failed|error|skipped|no tests ran)' "$log" | grep -E ' in [0-9.]+s' | tail -n 1)
        echo "Summary: ${summary:-none (pytest did not get to its summary line)}"
        echo
        if grep -qE '^(FAILED|ERROR) ' "$log"; then
            echo "Failed or erroring tests:"
            echo
            echo '```text'
            grep -E '^(FAILED|ERROR) ' "$log" | head -n 100
            echo '```'
            echo
        fi
        if grep -qE '^SKIPPED ' "$log"; then
            echo "Skipped:"
            echo
            echo '```text'
            grep -E '^SKIPPED ' "$log" | head -n 40
            echo '```'
            echo
        fi
    fi
    failure_tail 1

    section 2
    if [ -f "$WORK/step2.log" ]; then
        lines=$(tr '\r' '\n' <"$WORK/step2.log" | grep -E '^(xpnn |network |training on|epoch +[0-9]+/[0-9]+ +loss|final test|test accuracy|error)' | head -n 40)
        [ -n "$lines" ] && printf '```text\n%s\n```\n\n' "$lines"
    fi
    failure_tail 2

    section 3
    if [ -f "$WORK/step3.log" ]; then
        echo '```text'
        tail_of "$WORK/step3.log" 80
        echo '```'
    fi

    section 4
    if [ -s "$WORK/bench.md" ]; then
        sed 's/^#/###/' "$WORK/bench.md" # its headings below this section's
        echo
    fi
    failure_tail 4

}

# -- the steps ----------------------------------------------------------------------------
# Limits: each step at most its cap, and never so long that the later steps lose their
# minimum (suite 60 s, main job 40 s, resume 45 s, benchmark 45 s).
if [ "$DRY" = 1 ]; then
    run_step 0 "$(step_limit 30 0)" "$PY" benchmarks/gpu_env.py --cpu
    # backends, training (resume, devices) and checkpoints; the real-MNIST training tests
    # are left to step 2
    run_step 1 "$(step_limit 180 130)" \
        env XPNN_BACKEND=array_api_strict XPNN_TEST_BACKENDS=strict-device1,numpy \
        "$PY" -m pytest -q -p no:cacheprovider tests/test_backends.py tests/test_training.py \
        tests/test_checkpoint.py tests/test_gpu_standin.py tests/test_fused_rules.py \
        -k "not real_mnist and not mnist_example"
    if [ -n "$MNIST" ]; then
        run_step 2 "$(step_limit 90 90)" env XPNN_BACKEND=numpy "$PY" examples/mnist.py \
            --epochs 2 --limit 5000 --data-dir "$MNIST"
    else
        STATUS[2]=SKIPPED
        NOTES[2]="MNIST not found; examples/mnist.py would try to download it."
    fi
    run_step 3 "$(step_limit 90 45)" "$PY" benchmarks/resume_check.py \
        --backend array_api_strict --device device1 --limit 2000 --epochs 2 \
        ${MNIST:+--data-dir "$MNIST"}
    limit=$(step_limit 300 5)
    # every path of the GPU benchmark at tiny sizes: numpy for CuPy, torch's cpu for CUDA
    # (1-2 minutes; a DeepConvNet step takes seconds on a busy 2-core machine)
    run_step 4 "$limit" "$PY" benchmarks/bench_gpu.py --dry-run --max-seconds $(( limit - 10 )) \
        ${MNIST:+--data-dir "$MNIST"} --out "$WORK/bench.md"
else
    run_step 0 "$(step_limit 30 0)" "$PY" benchmarks/gpu_env.py
    # all of it, on cupy and numpy (tests/test_gpu_check.py would run this script again)
    run_step 1 "$(step_limit 210 130)" env XPNN_BACKEND=cupy XPNN_TEST_BACKENDS=cupy,numpy \
        "$PY" -m pytest -q -p no:cacheprovider --ignore=tests/test_gpu_check.py
    if [ -n "$MNIST" ]; then
        run_step 2 "$(step_limit 90 90)" env XPNN_BACKEND=cupy "$PY" examples/mnist.py \
            --epochs 2 --data-dir "$MNIST"
    else
        STATUS[2]=SKIPPED
        NOTES[2]="MNIST not found (no network to download it): pass --data-dir."
    fi
    run_step 3 "$(step_limit 90 45)" "$PY" benchmarks/resume_check.py --backend cupy \
        --limit 10000 --epochs 2 ${MNIST:+--data-dir "$MNIST"}
    limit=$(step_limit 400 5)
    # full: MLPs on 60,000 images and convnets on 10,000, 5 rounds (--max-seconds cuts rounds)
    if [ "$limit" -ge 240 ]; then
        mode=()
    elif [ "$limit" -ge 150 ]; then
        mode=(--repeats 3 --conv-limit 5000)
    else
        mode=(--quick)
    fi
    NOTES[4]="bench mode: ${mode[*]:-full}, chosen for ${limit} s left. "
    run_step 4 "$limit" "$PY" benchmarks/bench_gpu.py --backend cupy --torch-device cuda \
        "${mode[@]}" --max-seconds $(( limit - 10 )) ${MNIST:+--data-dir "$MNIST"} \
        --out "$WORK/bench.md"
fi
