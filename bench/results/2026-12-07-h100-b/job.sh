#!/bin/bash
# the session's GPU work, in order of need; each stage's results under /root/res/<stage>
cd /root/src
export PYTHONPATH=/root/vllm-env/site:/tmp/site:/root/src VLLM_USE_FLASHINFER_SAMPLER=0 TIKTOKEN_ENCODINGS_BASE=/root/enc PYTHONUNBUFFERED=1
M=/root/models; L=/root/vllm-env/bin/vllm
stage() { echo "== $1 start $(date +%T)"; }
# A: the forced calls at 24 GiB (gpt-oss harmony + reasoning + next turn; Devstral 2 compact JSON; its fp8 variant)
stage a24
python3 -P -m bench.gpu_bench table --models $M --preset gpt-oss-20b --preset devstral-small-2-awq \
  --preset devstral-small-2-awq-fp8kv --card 24 --skip-unfit --out /root/res/a24 \
  --launcher $L > /root/res/a24.log 2>&1; echo "== a24 rc $? $(date +%T)"
# B: 12 and 16 GiB; gpt-oss on a 16 GiB card at a 0.96 share with graphs capped (overhead estimated 1.45)
stage b16
python3 -P -m bench.gpu_bench table --models $M --preset gpt-oss-20b --preset qwen2.5-coder-7b-awq \
  --preset qwen2.5-coder-14b-awq-fp8kv --card 12 --card 16 --skip-unfit --utilization gpt-oss-20b=0.96 \
  --overhead gpt-oss-20b=1.45 --out /root/res/b16 --launcher $L > /root/res/b16.log 2>&1; echo "== b16 rc $? $(date +%T)"
# C: 32 GiB rows of the new presets
stage c32
python3 -P -m bench.gpu_bench table --models $M --preset gpt-oss-20b --preset devstral-small-2-awq \
  --preset devstral-small-2-awq-fp8kv --preset qwen2.5-coder-14b-awq-fp8kv \
  --card 32 --skip-unfit --out /root/res/c32 --launcher $L > /root/res/c32.log 2>&1; echo "== c32 rc $? $(date +%T)"
echo "== all done $(date +%T)"
