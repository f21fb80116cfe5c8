#!/bin/sh
# bench_tokenizer.sh — encoding speed vs HF tokenizers, same text, same run, one core.
exec python3 "$(dirname "$0")/tokenizer_bench.py" --lorac "${LORAC:-./lorac}"
