#!/usr/bin/env bash
# JSONSchemaBench A/B of the generation bounds (docs/benchmarks.md "Structured output").
# Usage: bench/jsb_bounds_ab.sh [OUTDIR]   (~12 min on 2 cores; one engine)
# One engine, two gateways attached: bounds on (PORT) and bounds off (PORT2). Run via cpuheavy.
set -u
J=$(realpath -m "${1:-results/jsb_bounds}"); mkdir -p "$J"; cd "$(dirname "$0")/.."
PORT=8561; EPORT=8661; PORT2=8562
A=Glaiveai2K,Github_trivial,Github_easy,Snowplow
B=Github_medium,Kubernetes,WashingtonPost
C=Github_hard,JsonSchemaStore,Github_ultra
.venv/bin/structserve serve --port $PORT --engine-port $EPORT --max-model-len 4096 > $J/run_all.serve.log 2>&1 &
S1=$!
for i in $(seq 1 300); do curl -sf http://127.0.0.1:$PORT/ready >/dev/null && break; kill -0 $S1 || exit 1; sleep 2; done
STRUCTSERVE_STRUCTURED_MAX_BLANK_RUN=0 STRUCTSERVE_STRUCTURED_SAFE_INTEGERS=false \
  .venv/bin/structserve serve --port $PORT2 --engine-url http://127.0.0.1:$EPORT > $J/run_all.serve2.log 2>&1 &
S2=$!
for i in $(seq 1 60); do curl -sf http://127.0.0.1:$PORT2/ready >/dev/null && break; sleep 1; done
git rev-parse HEAD > $J/run_all.commit
bench() {  # label port subsets maxtok [args]
  local out=$J/$1 port=$2 subs=$3 mt=$4; shift 4
  mkdir -p $out
  echo "$(date +%T) $out" >&2
  .venv/bin/structserve bench jsonschemabench --base-url http://127.0.0.1:$port --subsets $subs \
    --limit 10 --max-tokens $mt --concurrency 4 --out $out "$@" > $out/bench.out 2> $out/bench.err
}
for p in A B C; do bench on512_$p $PORT ${!p} 512; done
bench off2048_G $PORT2 Glaiveai2K 2048
bench on2048_G $PORT Glaiveai2K 2048
bench on512_A_reppen $PORT $A 512 --extra-body '{"repetition_penalty": 1.1}'
for p in A B C; do bench off512_$p $PORT2 ${!p} 512; done
echo "$(date +%T) done" >&2
kill -TERM $S2; kill -TERM $S1
for i in $(seq 1 60); do kill -0 $S1 2>/dev/null || break; sleep 1; done
kill -0 $S1 2>/dev/null && kill -KILL $S1
kill -0 $S2 2>/dev/null && kill -KILL $S2
