"""Caption metrics with pycocoevalcap: BLEU-3, BLEU-4, METEOR, ROUGE-L, CIDEr.

    python -m model.caption.metrics --predictions PRED.json --references REF.json [--out M.json]

Formats (UTF-8 JSON):
    PRED.json  {"<segment_id>": "the generated caption", ...}
    REF.json   {"<segment_id>": {"video_id": "<video id>", "references": ["a caption", ...]}, ...}
Every reference id needs exactly one prediction and vice versa: missing or extra ids are an
error that lists them. A segment whose references are all empty is left out (counted in
`skipped_empty_references`); an empty prediction is scored (as nothing right).

Scales as in the paper's Table 3: BLEU, METEOR and ROUGE-L × 100, CIDEr as is.
- `micro`: corpus level, every segment of every video together (the paper's numbers).
- `macro`: per video, the mean of its segments' scores (pycocoevalcap's per-segment BLEU /
  METEOR / ROUGE-L / CIDEr, with CIDEr's document frequencies from the whole corpus), then the
  mean over videos (the video-level average the paper's footnote mentions).
Captions are lowercased and tokenised with the Stanford PTB tokenizer (Java), punctuation
dropped, as the COCO caption evaluation does. METEOR and the PTB tokenizer need a Java runtime:
without one, METEOR is reported as null with the reason and a Python tokenizer (lowercase,
PTB's punctuation removed) stands in.
"""

import argparse
import json
import logging
import re
import shutil
import subprocess
import sys
from collections import defaultdict

import numpy as np

from schemas.process import run_cli

log = logging.getLogger(__name__)
METRICS = ("BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")
_PUNCT = re.compile(r"[.?!,:;\-`'\"()\[\]{}]+")


def java_missing() -> str | None:
    """Why Java cannot run (None when it can): METEOR and the PTB tokenizer need it."""
    java = shutil.which("java")
    if java is None:
        return "no Java runtime on PATH (install one, e.g. apt-get install default-jre-headless)"
    try:
        subprocess.run([java, "-version"], capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        return f"java does not run ({e})"
    return None


def _python_tokenize(captions: dict[str, list[str]]) -> dict[str, list[str]]:
    clean = lambda c: " ".join(_PUNCT.sub(" ", c.lower()).split())  # noqa: E731
    return {k: [clean(c) for c in v] for k, v in captions.items()}


def tokenize(captions: dict[str, list[str]], use_java: bool) -> dict[str, list[str]]:
    if not use_java:
        return _python_tokenize(captions)
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    wrapped = {k: [{"caption": c} for c in v] for k, v in captions.items()}
    return PTBTokenizer().tokenize(wrapped)


def validate(predictions: dict, references: dict) -> tuple[dict[str, str], dict[str, dict]]:
    """The pairs to score, or ValueError naming missing/extra ids and malformed entries."""
    if not isinstance(predictions, dict) or not isinstance(references, dict):
        raise ValueError("predictions and references must be JSON objects keyed by segment id")
    missing, extra = (
        sorted(set(references) - set(predictions)),
        sorted(set(predictions) - set(references)),
    )
    problems = []
    if missing:
        problems.append(f"{len(missing)} reference ids have no prediction: {_few(missing)}")
    if extra:
        problems.append(f"{len(extra)} predicted ids are not in the references: {_few(extra)}")
    bad_pred = sorted(k for k, v in predictions.items() if not isinstance(v, str))
    if bad_pred:
        problems.append(f"predictions that are not a string: {_few(bad_pred)}")
    bad_ref = sorted(
        k for k, v in references.items()
        if not (isinstance(v, dict) and isinstance(v.get("references"), list)
                and all(isinstance(r, str) for r in v["references"]))
    )  # fmt: skip
    if bad_ref:
        problems.append(
            f"references not of the form {{'video_id': ..., 'references': [str]}}: {_few(bad_ref)}"
        )
    if problems:
        raise ValueError("; ".join(problems))
    return predictions, references


def _few(ids: list[str], n: int = 20) -> str:
    return ", ".join(ids[:n]) + (f", ... ({len(ids) - n} more)" if len(ids) > n else "")


def score(predictions: dict[str, str], references: dict[str, dict], java: bool = True) -> dict:
    """Micro (corpus) and macro (video) scores; see the module docstring. java=False: no METEOR
    and the Python tokenizer even when Java is there (its start-up costs ~20 s on 2 cores)."""
    return score_many({"": predictions}, references, java)[""]


def score_many(
    systems: dict[str, dict[str, str]], references: dict[str, dict], java: bool = True
) -> dict[str, dict]:
    """`score` for several systems' predictions against the same references, sharing one PTB
    tokenizer run and one METEOR process."""
    for name, predictions in systems.items():
        try:
            validate(predictions, references)
        except ValueError as e:
            raise ValueError(f"{name}: {e}" if name else str(e)) from e
    refs = {k: [r for r in v["references"] if r.strip()] for k, v in references.items()}
    ids = sorted(k for k in refs if refs[k])
    if not ids:
        raise ValueError("no segment has a non-empty reference: nothing to score")
    reason = java_missing() if java else "Java turned off (--no_java)"
    texts = {f"r{k}": refs[k] for k in ids}
    for n, (_, predictions) in enumerate(systems.items()):
        texts.update({f"{n}p{k}": [predictions[k]] for k in ids})
    tokens = tokenize(texts, reason is None)  # one call: one JVM start
    gts = {k: tokens[f"r{k}"] for k in ids}
    videos = defaultdict(list)
    for i, k in enumerate(ids):
        videos[str(references[k].get("video_id", k))].append(i)
    meteor = _meteor() if reason is None else None
    out = {}
    for n, name in enumerate(systems):
        res = {k: [tokens.get(f"{n}p{k}", [""])[0]] for k in ids}
        micro, per_segment = _score_all(gts, res, meteor)
        macro = {
            m: None if s is None else float(np.mean([np.mean(s[rows]) for rows in videos.values()]))
            for m, s in per_segment.items()
        }
        out[name] = {
            "n_segments": len(ids),
            "n_videos": len(videos),
            "skipped_empty_references": len(refs) - len(ids),
            "micro": micro,
            "macro": macro,
            "tokenizer": "ptb" if reason is None else "python",
            "meteor": "ok" if reason is None else f"unavailable: {reason}",
        }
    return out


def _meteor():
    from pycocoevalcap.meteor.meteor import Meteor

    return Meteor()


def _score_all(gts: dict, res: dict, meteor) -> tuple[dict, dict]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    micro: dict[str, float | None] = {}
    per: dict[str, np.ndarray | None] = {}
    (_, _, b3, b4), (_, _, s3, s4) = Bleu(4).compute_score(gts, res, verbose=0)
    micro["BLEU-3"], micro["BLEU-4"] = 100 * b3, 100 * b4
    per["BLEU-3"], per["BLEU-4"] = 100 * np.asarray(s3), 100 * np.asarray(s4)
    micro["METEOR"], per["METEOR"] = None, None
    if meteor is not None:
        m, ms = meteor.compute_score(gts, res)
        micro["METEOR"], per["METEOR"] = 100 * m, 100 * np.asarray(ms)
    r, rs = Rouge().compute_score(gts, res)
    micro["ROUGE-L"], per["ROUGE-L"] = 100 * r, 100 * np.asarray(rs)
    c, cs = Cider().compute_score(gts, res)
    micro["CIDEr"], per["CIDEr"] = float(c), np.asarray(cs)
    return {k: (None if v is None else float(v)) for k, v in micro.items()}, per


def read_json(path: str, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"{what} {path}: cannot read JSON ({e})") from e


def format_scores(result: dict) -> str:
    lines = [f"{'':<8}" + "".join(f"{m:>9}" for m in METRICS)]
    for level in ("micro", "macro"):
        cells = (result[level][m] for m in METRICS)
        lines.append(f"{level:<8}" + "".join(f"{'n/a':>9}" if v is None else f"{v:>9.2f}"
                                             for v in cells))  # fmt: skip
    lines.append(f"{result['n_segments']} segments, {result['n_videos']} videos; "
                 f"tokenizer {result['tokenizer']}; METEOR {result['meteor']}")  # fmt: skip
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", required=True, help='{"segment_id": "caption", ...}')
    parser.add_argument(
        "--references", required=True, help='{"id": {"video_id": ..., "references": [...]}}'
    )
    parser.add_argument("--out", help="write the scores as JSON here too")
    parser.add_argument("--no_java", action="store_true", help="no METEOR, Python tokenizer")
    a = parser.parse_args(argv)
    try:
        pred, refs = read_json(a.predictions, "predictions"), read_json(a.references, "references")
        result = score(pred, refs, java=not a.no_java)
    except ValueError as e:
        sys.exit(f"error: {e}")
    print(format_scores(result))
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    run_cli(main)
