"""Paths tests share: the project's `../shared/fixtures` sits beside the repository root."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
YOUCOOK2_SAMPLE = str(FIXTURES / "youcook2_sample.json")
