#!/usr/bin/env bash
# Selective-search proposals on a Slurm cluster: one array task per part.
#   [CPUS_PER_TASK=16] [TIME=24:00:00] [PYTHON=python] [SBATCH_ARGS=...] \
#   bash tools/data/slurm_selective_search.sh PARTITION PARTS SRC OUT \
#       [selective_search.py args...]
# Submits `sbatch --array=0-(PARTS-1)`; task I runs
#   python tools/data/selective_search.py SRC OUT --num-parts PARTS
# (the part number is the array task id) with --nproc CPUS_PER_TASK, writing
# OUT-without-.json.partIIIII-of-NNNNN.json and its own shard folder, so a
# preempted task resumes when resubmitted. Redo single parts with
# SBATCH_ARGS="--array=3,7" (the ids are the part numbers). When all are
# done:
#   python tools/data/merge_proposals.py OUT
set -euo pipefail
if [ $# -lt 4 ]; then
    sed -n '2,13p' "$0" >&2
    exit 2
fi
PARTITION=$1
PARTS=$2
SRC=$3
OUT=$4
shift 4
CPUS_PER_TASK=${CPUS_PER_TASK:-16}
TIME=${TIME:-24:00:00}
SBATCH_ARGS=${SBATCH_ARGS:-""}
PYTHON=${PYTHON:-python}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LOG_DIR=${LOG_DIR:-"$(dirname "$OUT")/slurm_logs"}
mkdir -p "$LOG_DIR"
EXTRA=""
if [ $# -gt 0 ]; then
    EXTRA=$(printf '%q ' "$@")
fi

# --array first: a later --array in SBATCH_ARGS overrides it
# shellcheck disable=SC2086
sbatch -p "${PARTITION}" \
    --job-name=selective_search \
    --array="0-$((PARTS - 1))" \
    --ntasks=1 \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --time="${TIME}" \
    --output="${LOG_DIR}/part-%a.out" \
    ${SBATCH_ARGS} \
    --wrap="PYTHONPATH=\"$ROOT:\${PYTHONPATH:-}\" $(printf '%q ' "$PYTHON") -u $(printf '%q ' "$ROOT/tools/data/selective_search.py" "$SRC" "$OUT") --num-parts ${PARTS} --nproc ${CPUS_PER_TASK} ${EXTRA}"
