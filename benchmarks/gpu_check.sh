#!/usr/bin/env bash
# The one script a lent GPU machine runs: the GPU tests, then every benchmark (GEMM's first, then the
# training comparison, then the other families'), then a short table, the training and convolution
# comparisons and, last, the GEMM goal tables (the ladder at 4096^3, the Dense products autotuned
# against cuBLAS).
#
#   bash benchmarks/gpu_check.sh             # on the GPU machine; results in $OUT
#   bash benchmarks/gpu_check.sh --dry-run   # anywhere: the same steps, benchmarks on the emulator
#   bash benchmarks/gpu_check.sh --gemm      # GEMM's steps only (issue 5: its tests, benchmark, counters
#                                            # and goal tables), a second run that fits beside a first
#
# Where the tree arrives without .git, name the commit it was copied from, so the JSON records it:
#   CNN_GPU_GIT_COMMIT=<sha> bash benchmarks/gpu_check.sh
#
# Runs from the source tree (PYTHONPATH=., nothing installed), within BUDGET_S (under 8 minutes): each
# step has its own time limit, cut further to what is left of the whole budget, and a failing
# step does not stop the next; Nsight Compute's counters, last, run only if a minute is left. At
# 4f96517 on an H200 (benchmarks/results/gpu_check.log) every step ran in 509 s, under a budget
# raised to 540 for that run: about 390 s before the counters, which took 118 (at 27bd7f2, 479 s in
# all); at the default budget they get about 65 s and profile fewer products. $OUT receives
# gpu_check.log (everything printed), one JSON per benchmark and one of Nsight Compute's counters,
# gemm_counters.json (packed into benchmark_json.tar.gz when there are more than fit the device tool's
# file limit), summary.md, summary.png and gemm_sizes.png; the JSON is copied under benchmarks/results/ too.
set -u
cd "$(dirname "$0")/.."
DRY_RUN="" GEMM_ONLY=""
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN="--dry-run" ;;
        --gemm) GEMM_ONLY=yes ;;
        *) echo "usage: bash benchmarks/gpu_check.sh [--dry-run] [--gemm]" >&2; exit 2 ;;
    esac
done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"

BUDGET_S="${GPU_CHECK_BUDGET_S:-470}"  # the whole script, inside 8 minutes; the lease allows one command 600 s
COMPILE_LIMIT_S=150 # every declared module, over every core (cnn-gpu compile): 22 s at 4f96517 (70 a file a module)
TESTS_LIMIT_S=180   # 28 s at 4f96517, on an H200
PROBES_LIMIT_S=60   # the Hopper probes' tests (benchmarks/unproven.py)
RUNG_LIMIT_S=120    # one unproven rung's tests; with the compile step cut short, the first compiles gemm_wgmma.cu (70 s at 2c9911a, on an H100 host, with its sweep module)
CEILINGS_LIMIT_S=90
BENCHMARK_LIMIT_S=180
TRAIN_LIMIT_S=90    # the seed model's training against PyTorch's (benchmarks/gpu_train.py): 4 short epochs each
TRAIN_BN_LIMIT_S=60 # the same with batch normalization: the same convolution and products, autotuned already
COUNTERS_LIMIT_S=150  # Nsight Compute's counters (benchmarks/gemm_counters.py), last: what time is left
COUNTERS_MIN_S=60     # ... unless that is less than this
MAX_JSON_FILES=4    # with the log, the two summaries and the GEMM sizes plot, at most 8 files come back from $OUT
deadline=$((SECONDS + BUDGET_S))
failures=()

# run NAME LIMIT COMMAND...: COMMAND under min(LIMIT, time left); a failure is noted, not fatal.
run() {
    local name=$1 limit=$2 left=$((deadline - SECONDS))
    shift 2
    [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -lt 10 ]; then
        echo "=== $name: skipped, the time budget is spent"; failures+=("$name (not run)"); return
    fi
    echo "=== $name (limit ${limit}s): $*"
    local start=$SECONDS
    timeout --signal=INT --kill-after=15 "$limit" "$@"
    local status=$?
    echo "=== $name: exit $status after $((SECONDS - start))s"
    [ "$status" -eq 0 ] || failures+=("$name (exit $status)")
    return "$status"
}

# Every step but GEMM's (all but --gemm runs them, after benchmarks.gemm): training, the other families'
# benchmarks, the tile sweep and the host-side overheads.
everything_else() {
    # Then the whole of training, the product's own comparison, before the other families' benchmarks
    # can take its time: the seed model's epochs against PyTorch's on the same GPU ...
    run "benchmarks.gpu_train" "$TRAIN_LIMIT_S" "$PYTHON" -m benchmarks.gpu_train --out "$OUT" $DRY_RUN
    run "benchmarks.gpu_train --batch-norm" "$TRAIN_BN_LIMIT_S" "$PYTHON" -m benchmarks.gpu_train --batch-norm \
        --out "$OUT" $DRY_RUN
    # ... and the README's main job as a user runs it (the backend its own choice): one epoch.
    run "cnn-gpu train" 60 "$PYTHON" -m cnn_gpu train --epochs 1 $([ -n "$DRY_RUN" ] && echo --backend numpy)
    for module in $("$PYTHON" -m benchmarks.harness list | grep -vx benchmarks.gemm); do
        run "$module" "$BENCHMARK_LIMIT_S" "$PYTHON" -m "$module" --out "$OUT" $DRY_RUN
    done
    run "benchmarks.gemm --sweep" "$BENCHMARK_LIMIT_S" "$PYTHON" -m benchmarks.gemm --sweep --out "$OUT" $DRY_RUN \
        "${gemm_kernels[@]}"
    # gemm()'s host time per call, launches stubbed, with a profile of where it goes (printed only).
    run "gemm call overhead" 60 "$PYTHON" -m benchmarks.gemm_call_overhead --calls 2000 --rounds 5 --profile \
        --backend "$([ -n "$DRY_RUN" ] && echo emulate || echo cuda)"
    # The seed model's training step on the host alone, launches stubbed, with its profile (printed only):
    # against gpu_train's epoch, how much of a step is Python.
    run "train step overhead" 60 "$PYTHON" -m benchmarks.train_step_overhead --steps 200 --rounds 5 --profile \
        --backend "$([ -n "$DRY_RUN" ] && echo emulate || echo cuda)"
    run "train step overhead, batch norm" 30 "$PYTHON" -m benchmarks.train_step_overhead --steps 200 --rounds 5 \
        --batch-norm --backend "$([ -n "$DRY_RUN" ] && echo emulate || echo cuda)"
}

main() {
    echo "=== environment"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv 2>&1 | head -5
    "$PYTHON" -m cnn_gpu info 2>&1
    echo "commit: $("$PYTHON" -c 'from benchmarks.run_info import git_commit; print(git_commit())')"
    # A GPU run whose probe finds no GPU would skip every test and still exit 0: count it as a failure.
    [ -z "$DRY_RUN" ] && run "gpu probe" 60 "$PYTHON" -c "from cnn_gpu.cuda.device import gpu_status as s; \
    print(s().describe()); raise SystemExit(0 if s().available else 1)"
    # Every kernel module compiled at once into the disk cache that each later process loads from:
    # NVRTC's modules (one a template instance) spread over this machine's cores, where each step's
    # processes would otherwise compile what they need one module after another.
    [ -z "$DRY_RUN" ] && run "compile" "$COMPILE_LIMIT_S" "$PYTHON" -m cnn_gpu compile --all

    # The kernels most likely to fault go first (benchmarks/unproven.py: Hopper's wgmma and bulk tensor
    # copy), apart from the other tests: a fault leaves a sticky error that ends every later CUDA call
    # of its process, and it must take down neither the other rungs nor the rest. The probes of the
    # instructions themselves go first; if they fail, no rung can work. The rungs that passed on a GPU
    # before run their tests in one process, each alone only if that fails; every other rung alone.
    # The steps after leave out every rung whose tests failed, and the tests already run.
    local unproven=("$PYTHON" -m benchmarks.unproven) pytest_gpu=("$PYTHON" -m pytest -m gpu -q -p no:cacheprovider -rs)
    local failed_rungs=() rungs proven each_proven_alone="" files
    rungs=$("${unproven[@]}" rungs)
    mapfile -t proven <<< "$("${unproven[@]}" proven)"
    read -r -a files <<< "$("${unproven[@]}" files)"  # collecting only these saves seconds a process
    if run "unproven: the Hopper probes" "$PROBES_LIMIT_S" "${pytest_gpu[@]}" -k "$("${unproven[@]}" probes)" \
            "${files[@]}"; then
        run "unproven: the rungs that passed before" "$RUNG_LIMIT_S" "${pytest_gpu[@]}" \
            -k "$("${unproven[@]}" tests "${proven[@]}")" "${files[@]}" || each_proven_alone=yes
        for rung in $rungs; do
            [[ " ${proven[*]} " == *" $rung "* ]] && [ -z "$each_proven_alone" ] && continue
            run "unproven: $rung" "$RUNG_LIMIT_S" "${pytest_gpu[@]}" -k "$("${unproven[@]}" tests "$rung")" \
                "${files[@]}" || failed_rungs+=("$rung")
        done
    else
        mapfile -t failed_rungs <<< "$rungs"
    fi
    local pytest_filter=(-k "not ($("${unproven[@]}" all))") gemm_kernels=()
    if [ "${#failed_rungs[@]}" -gt 0 ]; then
        gemm_kernels=(--kernels "$("${unproven[@]}" kernels "${failed_rungs[@]}")")
        # ... and out of the autotuners, which every later process asks (gemm() and conv2d without a
        # variant), and out of benchmarks/conv2d.py's rows.
        CNN_GPU_AUTOTUNE_EXCLUDE="$(IFS=,; echo "${failed_rungs[*]}")"
        export CNN_GPU_AUTOTUNE_EXCLUDE
        echo "=== leaving out the rungs whose GPU tests failed: ${failed_rungs[*]}"
    fi
    # Every other GPU test, the kernel families' and the seed model's training on them among them (all
    # passed on an H200 at ac366b0, the first GPU run of most families), in one process spread over
    # pytest-xdist's workers, where the machine has it and the cores: a GPU test spends most of its time
    # on the host (its float64 reference, pytest itself), and the compile step left every module in the
    # disk cache for the workers to load. A worker's fault fails the tests that worker runs after it,
    # and none of the others.
    local workers=$(( $(nproc) / 2 < 8 ? $(nproc) / 2 : 8 )) parallel=()
    [ "$workers" -ge 2 ] && "$PYTHON" -c "import xdist" 2>/dev/null && parallel=(-n "$workers")
    OMP_NUM_THREADS=2 run "gpu tests" "$TESTS_LIMIT_S" "${pytest_gpu[@]}" "${parallel[@]}" --durations=5 \
        "${pytest_filter[@]}" "$([ -n "$GEMM_ONLY" ] && echo tests/ops/test_gemm.py || echo tests)"
    # The products the tests tuned were timed with the workers beside them: the benchmarks tune afresh.
    [ -z "$DRY_RUN" ] && rm -f "$("$PYTHON" -c 'from cnn_gpu.cuda.autotune import cache_path; print(cache_path())')"

    # The ceilings are measured once and shared by every benchmark of this run.
    export CNN_GPU_CEILINGS="$(mktemp -d)/ceilings.json"
    [ -z "$DRY_RUN" ] && run "ceilings" "$CEILINGS_LIMIT_S" "$PYTHON" -m benchmarks.harness ceilings
    # GEMM first: issue 5's goals are measured there, and the others must not squeeze it out of the budget.
    run "benchmarks.gemm" "$BENCHMARK_LIMIT_S" "$PYTHON" -m benchmarks.gemm --out "$OUT" $DRY_RUN "${gemm_kernels[@]}"
    [ -z "$GEMM_ONLY" ] && everything_else
    # Why each rung runs as fast as it does: Nsight Compute's counters for the 4096 square's rungs and
    # the Dense products (the script stops ncu at --limit-s, inside this step's limit, and keeps what
    # it read).
    local counters_s=$(( (deadline - SECONDS < COUNTERS_LIMIT_S ? deadline - SECONDS : COUNTERS_LIMIT_S) - 15 ))
    if [ "$counters_s" -lt "$COUNTERS_MIN_S" ]; then
        echo "=== benchmarks.gemm_counters: skipped, ${counters_s}s would profile next to nothing"
        failures+=("benchmarks.gemm_counters (not run)")
    else
        run "benchmarks.gemm_counters" "$COUNTERS_LIMIT_S" "$PYTHON" -m benchmarks.gemm_counters --out "$OUT" \
            $DRY_RUN --limit-s "$counters_s" "${gemm_kernels[@]}"
    fi

    json=("$OUT"/*.json)
    table="no benchmark wrote a result" goals="" training="" convolution=""
    local result line
    for result in "$OUT"/gpu_train.json "$OUT"/gpu_train_batchnorm.json; do
        [ -e "$result" ] || continue
        if line=$("$PYTHON" -m benchmarks.gpu_train --summary "$result"); then
            [ -n "$training" ] && training+=$'\n'
            training+="$line"
        else
            failures+=("training summary ($result)")
        fi
    done
    if [ -e "$OUT/conv2d.json" ]; then
        convolution=$("$PYTHON" -m benchmarks.report "$OUT/conv2d.json" --convolution) || failures+=("convolution table")
    fi
    if [ -e "${json[0]}" ]; then
        # A dry run's emulator timings are not results: only a GPU run's JSON goes to benchmarks/results.
        [ -z "$DRY_RUN" ] && mkdir -p benchmarks/results && cp "${json[@]}" benchmarks/results/
        "$PYTHON" -m benchmarks.report "${json[@]}" --markdown "$OUT/summary.md" --plot "$OUT/summary.png" > /dev/null \
            || failures+=("report")
        table=$("$PYTHON" -m benchmarks.report "${json[@]}" --short) || failures+=("report")
        if [ -e "$OUT/gemm.json" ]; then
            "$PYTHON" -m benchmarks.report "$OUT/gemm.json" --sizes "$OUT/gemm_sizes.png" || failures+=("sizes plot")
            # Issue 5's goals, printed after everything else: the ladder at the goal square, and the
            # Dense products, autotuned against cuBLAS.
            goals=$("$PYTHON" -m benchmarks.report "$OUT/gemm.json" --ladder "square$([ -n "$DRY_RUN" ] && echo 40 || echo 4096)" \
                    && "$PYTHON" -m benchmarks.report "$OUT/gemm.json" --dense-goal) || failures+=("goal tables")
        fi
        if [ "${#json[@]}" -gt "$MAX_JSON_FILES" ]; then
            tar -czf "$OUT/benchmark_json.tar.gz" -C "$OUT" "${json[@]##*/}" && rm -f "${json[@]}"
            echo "=== ${#json[@]} JSON files packed into benchmark_json.tar.gz (the device tool returns at most 8 files)"
        fi
    fi

    echo
    echo "=== gpu_check finished in ${SECONDS}s; failures: ${failures[*]:-none}"
    echo "$table"
    [ -n "$training" ] && printf '\n%s\n' "$training"
    [ -n "$convolution" ] && printf '\n=== convolution: each pass against cuDNN, microseconds per call (report --convolution)\n%s\n' "$convolution"
    [ -n "$goals" ] && printf '\n=== issue 5: the ladder at the goal square, and the Dense products\n%s\n' "$goals"
    [ "${#failures[@]}" -eq 0 ]
}

main 2>&1 | tee "$OUT/gpu_check.log"
exit "${PIPESTATUS[0]}"
