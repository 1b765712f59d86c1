"""The worker image's Dockerfile (Docker is not needed: it is parsed and checked against the
pins, so a changed pin cannot leave the image behind)."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


def test_base_image_is_beams_sdk_of_the_pinned_version_and_python():
    [(_, image)] = [i for i in instructions() if i[0] == "FROM"]
    m = re.fullmatch(r"apache/beam_python(\d)\.(\d+)_sdk:(\S+)", image)
    assert m, image
    assert m.group(3) == pins()["apache-beam"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f">={m.group(1)}.{m.group(2)}" in project["requires-python"]
    assert ("ENTRYPOINT", '["/opt/apache/beam/boot"]') in instructions()


def test_every_install_is_constrained_by_the_pins_and_carries_cuda_torch_and_deno():
    runs = [args for word, args in instructions() if word == "RUN"]
    installs = [r for r in runs if "pip install" in r]
    assert installs and all("-c constraints.txt" in r for r in installs)
    for r in installs:  # an explicit pin in the Dockerfile must be the pinned one
        for name, version in re.findall(r"([A-Za-z0-9_.-]+)==([^\s\"']+)", r):
            assert pins()[re.sub(r"[-_.]+", "-", name).lower()] == version, name
    assert "torch.version.cuda" in installs[0] and "deno" in installs[0]
    assert pins()["torch"] == "2.14.1" and "nvidia-cuda-runtime" in pins()  # the CUDA build
    assert "yt-dlp" in pins() and "deno" in pins()


def test_the_package_and_its_pins_are_copied_before_the_install():
    words = instructions()
    copies = " ".join(args for word, args in words if word == "COPY")
    for path in ("constraints.txt", "pyproject.toml", "setup.py", "schemas", "stages",
                 "pipelines", "model"):  # fmt: skip
        assert path in copies, path
    first_install = next(i for i, (w, a) in enumerate(words) if w == "RUN" and "pip install" in a)
    last_copy = max(i for i, (w, _) in enumerate(words) if w == "COPY")
    assert last_copy < first_install
