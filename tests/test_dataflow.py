"""The corpus DAG as a Dataflow job, built offline (Beam's --dry_run: built and validated, not
submitted), GPU right-fitting by resource hints, and option sets that cannot work."""

import re
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import dataflow
from pipelines.corpus import run

ROOT = Path(__file__).parents[1]
ACCELERATOR_URN = "beam:resources:accelerator:v1"
DATAFLOW = [
    "--runner=DataflowRunner",
    "--project=my-project",
    "--region=us-central1",
    "--temp_location=gs://my-bucket/tmp",
    "--setup_file=./setup.py",
    "--out=gs://my-bucket/vb",
]


def dry_run(args: list[str]):
    """Build the Dataflow job of `args` through the CLI's `run`; its pipeline proto."""
    p = beam.Pipeline(options=PipelineOptions(dataflow.normalize_argv(args)))
    run(args, test_pipeline=p)
    return p.runner.proto_pipeline


def hinted_steps(proto) -> dict[str, str]:
    """Leaf transforms whose environment carries an accelerator hint → the hint."""
    comps = proto.components
    found = {}
    for t in comps.transforms.values():
        if t.subtransforms or not t.environment_id:
            continue
        hint = comps.environments[t.environment_id].resource_hints.get(ACCELERATOR_URN)
        if hint:
            found[t.unique_name] = hint.decode()
    return found


def leaf_steps(proto) -> list[str]:
    return [t.unique_name for t in proto.components.transforms.values() if not t.subtransforms]


def test_paper_preset_over_gs_source_builds_offline_with_gpus_on_the_model_steps_only(
    monkeypatch,
):
    monkeypatch.chdir(ROOT)  # --setup_file=./setup.py, as the README runs it
    proto = dry_run(
        [
            *DATAFLOW,
            "--source=gs://my-bucket/videos",
            "--weights=random",
            "--sentence_splitter=punctuation",  # the paper preset's; not loaded on a dry run
            "--gpu_type=nvidia-l4",
            "--gpu_count=1",
            "--sdk_container_image=us-central1-docker.pkg.dev/my-project/videobert/worker:1",
            "--dry_run",
        ]
    )
    steps = leaf_steps(proto)
    for label in ("Discover/ListRemote", "Filter/", "Download/", "Transcripts/", "Sentences/",
                  "Extract/", "KMeans/", "Tokens/", "Corpus/"):  # fmt: skip
        assert any(s.startswith(label) for s in steps), label
    hinted = hinted_steps(proto)
    assert set(hinted.values()) == {"type:nvidia-l4;count:1;install-nvidia-driver"}
    assert {s.split("/")[0] for s in hinted} == {"Extract", "Sentences"}
    assert any("ParDo(ExtractFeaturesFn)" in s for s in hinted)  # S3D
    assert any("ParDo(SentencesFn)" in s for s in hinted)  # the punctuation model
    assert not any(s.startswith(("KMeans/", "Tokens/", "Download/")) for s in hinted)


def test_without_gpu_type_no_step_asks_for_an_accelerator(monkeypatch):
    monkeypatch.chdir(ROOT)
    proto = dry_run([*DATAFLOW, "--source=gs://my-bucket/videos/", "--weights=random",
                     "--sentence_splitter=pause", "--dry_run"])  # fmt: skip
    assert hinted_steps(proto) == {}
    assert any("ParDo(ExtractFeaturesFn)" in s for s in leaf_steps(proto))


def test_pause_splitter_needs_no_gpu_for_sentences():
    options = PipelineOptions([*DATAFLOW, "--gpu_type=nvidia-tesla-t4", "--gpu_count=2",
                               "--sentence_splitter=pause"])  # fmt: skip
    assert dataflow.gpu_hints(options, "features") == {
        "accelerator": "type:nvidia-tesla-t4;count:2;install-nvidia-driver"
    }
    assert dataflow.gpu_hints(options, "sentences") == {}
    assert dataflow.gpu_hints(options, "tokens") == {}


IMAGE = "--sdk_container_image=us-central1-docker.pkg.dev/my-project/videobert/worker:1"


@pytest.mark.parametrize(
    ("change", "fix"),
    [
        ({"--out": "out"}, "--out=gs://BUCKET/PREFIX"),
        ({"--temp_location": None}, "--temp_location=gs://BUCKET/tmp"),
        ({"--temp_location": "/tmp/x"}, "--temp_location=gs://BUCKET/tmp"),
        ({"--out": "gs://b/vb"}, "'b' is not a valid GCS bucket name"),
        ({"--project": "p"}, "is not a project id"),
        ({"--setup_file": None}, "--setup_file=./setup.py"),
        ({"--gpu_type": "nvidia-l4"}, "needs a worker image with CUDA torch"),
        (
            {
                "--gpu_type": "nvidia-l4",
                "--sdk_container_image": "apache/beam_python3.11_sdk:2.77.0",
            },
            "needs a worker image with CUDA torch",
        ),  # fmt: skip
        ({"--source": "{tmp}"}, "which Dataflow workers cannot read"),
        ({"--runner": "FnApiRunner", "--gpu_type": "nvidia-l4"}, "locally use --device=cuda"),
    ],
)
def test_an_option_set_that_cannot_work_is_one_line_naming_the_fix(change, fix, tmp_path):
    flags = dict(a.split("=", 1) for a in DATAFLOW)
    for key, value in change.items():
        if value is None:
            flags.pop(key)
        else:
            flags[key] = value.format(tmp=tmp_path)
    with pytest.raises(dataflow.ConfigError) as e:
        dataflow.check(PipelineOptions([f"{k}={v}" for k, v in flags.items()]))
    assert fix in str(e.value) and "\n" not in str(e.value)


def test_gpu_type_with_a_cuda_image_passes_and_implies_cuda():
    options = PipelineOptions([*DATAFLOW, "--gpu_type=nvidia-l4", IMAGE])
    dataflow.check(options)
    from pipelines.options import CorpusOptions

    assert options.view_as(CorpusOptions).device == "cuda"


def test_bare_dry_run_flag_and_falsy_values():
    assert dataflow.normalize_argv(["--dry_run", "--out=x"]) == ["--dry_run=True", "--out=x"]
    assert dataflow.normalize_argv(["--dry_run=false"]) == []
    assert dataflow.normalize_argv(["--dry_run=True"]) == ["--dry_run=True"]


def test_cli_prints_one_line_and_exits_2_before_any_work(tmp_path):
    cmd = [sys.executable, "-m", "pipelines.corpus", *DATAFLOW, "--gpu_type=nvidia-l4",
           "--source=gs://my-bucket/videos/", "--dry_run"]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if not re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert lines == [
        "error: --gpu_type=nvidia-l4 needs a worker image with CUDA torch: build the "
        "Dockerfile (docker build -t IMAGE .; docker push IMAGE) and pass "
        "--sdk_container_image=IMAGE"
    ]


def readme_recipe() -> tuple[dict[str, str], list[str]]:
    """The README's Dataflow recipe: its exported variables, and step 2's command argv."""
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- dataflow-recipe:")[1].split("```bash\n")[1].split("```")[0]
    env = {}
    for line in block.splitlines():
        if line.startswith("export "):
            env.update(kv.split("=", 1) for kv in line.split()[1:])
    joined = block.replace("\\\n", " ")
    [command] = [c for c in joined.splitlines() if "--runner=DataflowRunner" in c]
    expanded = re.sub(r"\$(\w+)", lambda m: env[m.group(1)], command)
    argv = expanded.split()
    assert argv[:3] == ["python", "-m", "pipelines.corpus"]
    return env, argv[3:]


def test_the_readme_recipe_builds_offline_with_gpus_right_fitted(monkeypatch):
    env, argv = readme_recipe()
    assert env["BUCKET"] and f"--out=gs://{env['BUCKET']}/vb" in argv
    assert "--dry_run" not in argv  # the recipe submits; the test only builds it
    monkeypatch.chdir(ROOT)
    proto = dry_run([*argv, "--dry_run"])
    steps = leaf_steps(proto)
    assert any(s.startswith("LoadVideos") for s in steps)  # stage outputs of step 1
    assert not any(s.startswith(("Discover/", "Download/", "Transcripts/")) for s in steps)
    hinted = hinted_steps(proto)
    assert {s.split("/")[0] for s in hinted} == {"Extract", "Sentences"}
    assert any("ParDo(ExtractFeaturesFn)" in s for s in hinted)
    assert any("ParDo(SentencesFn)" in s for s in hinted)  # the paper preset: punctuation
    assert set(hinted.values()) == {"type:nvidia-l4;count:1;install-nvidia-driver"}
