#!/bin/bash
# usage: scripts/speculative_bench.sh NAME [serve args...]: one gateway+engine on ports 8701/8702,
# `structserve bench serve` (chat workload, c=1 and c=8, 16 prompts, 64 tokens, greedy) into
# $RUNS/NAME (default /tmp/spec/bench), then the spec-decode metrics; the engine is stopped.
cd "$(dirname "$0")/.."
NAME=$1; shift
OUT=${RUNS:-/tmp/spec/bench}/$NAME
mkdir -p $OUT
.venv/bin/structserve serve --port 8701 --engine-port 8702 --kv-cache-gb 1 "$@" > $OUT/serve.log 2>&1 &
GW=$!
T0=$(date +%s)
for i in $(seq 1 240); do
  curl -s localhost:8701/ready | grep -q '"ready":true' && break
  kill -0 $GW 2>/dev/null || break
  if grep -q "engine exited" $OUT/serve.log; then echo "engine failed" > $OUT/failed.txt; kill -TERM $GW; wait $GW; exit 1; fi
  sleep 5
done
echo "ready after $(( $(date +%s) - T0 )) s" > $OUT/ready.txt
curl -s localhost:8701/v1/models > $OUT/models.json
.venv/bin/structserve bench serve --base-url http://127.0.0.1:8701 --name $NAME --workload chat \
  --concurrency 1,8 --num-prompts 16 --output-len 64 --temperature 0 --warmup 2 \
  --result-dir $OUT/result --no-plots --no-progress --max-duration 300 > $OUT/bench.log 2>&1
curl -s localhost:8701/metrics | grep -E "^(vllm:spec_decode|structserve_spec)" > $OUT/spec_metrics.txt
uptime > $OUT/load.txt
kill -TERM $GW; wait $GW
