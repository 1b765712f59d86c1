"""The import directions that keep the DAG readable: `schemas/` (the shared contracts: table
schemas, status vocabulary, OUT layout, centroid-tree codec, tokenizer loader) imports none of
the project's other packages and not Beam; `model/` imports `schemas/` but never Beam, `stages/`
or `pipelines/` (it runs where Beam is not installed); `stages/` never imports `pipelines/` or
`model/`."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def modules(package: str) -> list[str]:
    found = [package]
    for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
        found.append(info.name)
    return sorted(found)


def imported_roots(names: list[str]) -> set[str]:
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True
    )
    return set(done.stdout.split())


@pytest.mark.parametrize(
    "package, forbidden",
    [
        ("schemas", {"apache_beam", "stages", "pipelines", "model"}),
        ("model", {"apache_beam", "stages", "pipelines"}),
        ("stages", {"pipelines", "model"}),
    ],
)
def test_import_directions(package, forbidden):
    names = modules(package)
    assert len(names) > 3, names
    assert not imported_roots(names) & forbidden
