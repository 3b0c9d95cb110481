#!/usr/bin/env bash
# The tiles benchmark lives in scripts/bench.py; ROUNDS, BENCH_DIR, KEEP, TACO and PROFILE still apply.
exec python3 "$(dirname "${BASH_SOURCE[0]}")/bench.py" tiles "$@"
