"""scripts/fuzz-differential.py for 30 s with a fixed seed: no finding, and enough mutants
accepted by `taco validate --level deep` that the comparison with Python's zipfile (names,
order, bytes) really ran.

On failure the findings' inputs are in the test's tmp_path (and their paths in the output).
"""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO

SCRIPT = REPO / "scripts" / "fuzz-differential.py"
SECONDS = 30
SEED = 20240611
MIN_ACCEPTED = 50  # a few hundred with today's mutation mix; 0 would mean nothing is compared


def test_fuzz_differential_finds_nothing(taco_bin, tmp_path):
    findings = tmp_path / "findings"
    cp = subprocess.run(
        [sys.executable, str(SCRIPT), "--seconds", str(SECONDS), "--seed", str(SEED),
         "--findings", str(findings), "--taco", str(taco_bin)],
        capture_output=True, text=True, errors="replace", stdin=subprocess.DEVNULL,
        timeout=SECONDS + 120,  # + building the bases and the last execution
    )
    out = cp.stdout + cp.stderr
    counts = {k: int(v) for k, v in re.findall(r"^(executions|accepted|findings): (\d+)$",
                                               cp.stdout, re.M)}
    assert set(counts) == {"executions", "accepted", "findings"}, f"no summary:\n{out[-5000:]}"
    assert counts["findings"] == 0, f"{counts['findings']} findings:\n{out[-10000:]}"
    assert cp.returncode == 0, out[-5000:]
    assert counts["executions"] > 0
    assert counts["accepted"] >= MIN_ACCEPTED, (
        f"only {counts['accepted']} of {counts['executions']} mutants accepted: the "
        f"differential check was barely exercised\n{out[-3000:]}")
