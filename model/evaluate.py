"""Evaluate a pretrained VideoBERT: zero-shot action classification, forecasting, text-to-video.

    python -m model.evaluate --model OUT/pretrain/final --out OUT          # `make eval`
    python -m model.evaluate ... --youcook2 yc2_annotations_trainval.json --youcook2_out YC2_OUT

Writes `OUT/eval/metrics.json` and prints the paper's Table 1 layout (model.table):

- **Zero-shot verb/noun classification** (model.zeroshot): open-vocabulary and label-restricted
  top-1/top-5 of VideoBERT cross-modal (template + a clip's visual tokens), VideoBERT's language
  prior (the template alone), the text-only BERT's language prior (`--bert_prior`: the BERT the
  model was initialised from, else minilm-local offline) and the most-frequent-label baselines.
  On the sample world's held-out videos (labels: `OUT/sample/ground_truth.parquet`; clips: the
  visual tokens whose midpoint lies inside an action) and on YouCook II validation videos when
  their annotation file and a corpus run over them (`--youcook2_out`, tokenised with the
  pretraining corpus's centroids) are given; see `model.youcook` for the labels.
- **Forecasting** and **text-to-video** (model.forecast), beside count baselines.

It warns when an evaluation video (a sample-world held-out video, a YouCook II validation video)
is in the pretraining corpus (its rows whose split is not `heldout`).
"""

import argparse
import json
import logging
import os
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from model.data import corpus_files
from model.forecast import CountBaselines, forecasting, text_to_video
from model.init import LOCAL_MINILM, RANDOM
from model.modeling import VideoBertForPreTraining
from model.predict import Predictor, load_text_bert
from model.table import table
from model.words import lemma
from model.youcook import labelled, read_annotations, vocabularies
from model.zeroshot import Candidates, SlotScorer, zero_shot
from schemas import io as sio
from schemas import layout
from schemas.process import run_cli
from schemas.text import load_tokenizer

__all__ = ["EvalConfig", "Predictor", "evaluate", "main", "table"]
log = logging.getLogger(__name__)
AUTO, NONE = "auto", "none"


@dataclass(frozen=True)
class EvalConfig:
    model: str
    """A VideoBERT directory (`save_pretrained` output, e.g. OUT/pretrain/final)."""
    out: str
    """The corpus root: reads corpus/, tokens/ and sample/ (when present); writes eval/."""
    youcook2: str | None = None
    """YouCook II annotation JSON (yc2_annotations_trainval.json), for its zero-shot task."""
    youcook2_out: str | None = None
    """Corpus root of a run over the YouCook II videos, tokenised with the same centroids."""
    bert_prior: str = AUTO
    """Text-only BERT of the "BERT language prior" row: auto (the model's pretrained init, else
    minilm-local), none, or a name/directory."""
    batch_size: int = 64
    max_visual: int = 32
    """Visual tokens per input at most (longer spans are subsampled evenly)."""
    examples: int = 5
    tokenizer: str | None = None
    """The corpus's text tokenizer (`--tokenizer` of the sentences stage); default bundled."""
    device: str = "cuda" if torch.cuda.is_available() else "cpu"


def _subsample(tokens: list[int], n: int) -> list[int]:
    if len(tokens) <= n:
        return list(tokens)
    return [tokens[i] for i in np.linspace(0, len(tokens) - 1, n).round().astype(int)]


def clips_in(tokens: dict, start: float, end: float) -> list[int]:
    """Visual tokens of the clips whose midpoint lies in [start, end) (else any overlapping)."""
    spans = list(zip(tokens["start_s"], tokens["end_s"], tokens["tokens"], strict=True))
    inside = [t for s, e, t in spans if start <= (s + e) / 2 < end]
    return inside or [t for s, e, t in spans if s < end and e > start]


def read_tokens(out: str, video_id: str) -> dict | None:
    path = layout.data_path(out, "tokens", video_id)
    try:
        with sio.open_input(path) as f:
            return pq.read_table(f).to_pylist()[0]
    except (FileNotFoundError, OSError, IndexError):
        return None


class SpanTokens:
    """Visual tokens of a time span of a video (`clips_in`, evenly subsampled to `max_visual`),
    reading each video's TOKENS file once."""

    def __init__(self, out: str, max_visual: int):
        self.out, self.max_visual, self._tokens = out, max_visual, {}

    def __call__(self, video_id: str, start: float, end: float) -> list[int]:
        if video_id not in self._tokens:
            self._tokens[video_id] = read_tokens(self.out, video_id)
        tokens = self._tokens[video_id]
        return _subsample(clips_in(tokens, start, end), self.max_visual) if tokens else []


def sample_world_examples(out: str, split: str = "heldout", max_visual: int = 32) -> tuple:
    """Labelled clips of the sample world's held-out actions, its verb/noun vocabularies, the
    training actions' labels (for the most-frequent baselines) and the held-out video ids."""
    with sio.open_input(layout.ground_truth_path(out)) as f:
        truth = pq.read_table(f).to_pylist()
    vocab = {"verb": sorted({a["verb"] for a in truth}), "noun": sorted({a["noun"] for a in truth})}
    train = {w: [[a[w]] for a in truth if a["split"] != split] for w in ("verb", "noun")}
    span_tokens, examples = SpanTokens(out, max_visual), []
    for a in truth:
        if a["split"] != split:
            continue
        if visual := span_tokens(a["video_id"], a["start_s"], a["end_s"]):
            examples.append(
                {"video_id": a["video_id"], "visual": visual,
                 "verbs": [a["verb"]], "nouns": [a["noun"]]}
            )  # fmt: skip
    return examples, vocab, train, {a["video_id"] for a in truth if a["split"] == split}


def youcook2_examples(annotations: str, out: str, max_visual: int = 32) -> tuple:
    """Labelled YouCook II validation clips with visual tokens in `out`, the vocabularies, the
    training captions' labels and the validation video ids."""
    captions = read_annotations(annotations)
    verbs, nouns = vocabularies(captions)
    train = labelled([c for c in captions if c.subset == "training"], verbs, nouns)
    train_labels = {"verb": [r["verbs"] for r in train], "noun": [r["nouns"] for r in train]}
    span_tokens, examples, missing = SpanTokens(out, max_visual), [], set()
    for row in labelled([c for c in captions if c.subset == "validation"], verbs, nouns):
        c = row["caption"]
        if not (visual := span_tokens(c.video_id, c.start_s, c.end_s)):
            missing.add(c.video_id)
            continue
        examples.append(
            {"video_id": c.video_id, "visual": visual, "verbs": row["verbs"], "nouns": row["nouns"]}
        )
    if missing:
        log.warning("youcook2: %d validation videos have no visual tokens in %s", len(missing), out)
    validation = {c.video_id for c in captions if c.subset == "validation"}
    return examples, {"verb": verbs, "noun": nouns}, train_labels, validation


# -- leaks ----------------------------------------------------------------------------------


def id_variants(video_id: str) -> set[str]:
    """The ids a corpus video may stand for: itself, without a local file's `v_` prefix (YouCook
    II's `v_<id>.mp4`), without the `_<8 hex>` suffix a local id gets when its name was changed."""
    out = {video_id}
    for v in list(out):
        if len(v) > 9 and v[-9] == "_" and all(ch in "0123456789abcdef" for ch in v[-8:]):
            out.add(v[:-9])
    out |= {v[2:] for v in out if v.startswith("v_")}
    return out


def leaked(eval_ids: set[str], pretraining_ids: set[str]) -> list[str]:
    """The evaluation ids found among the pretraining corpus's video ids."""
    return sorted({e for v in pretraining_ids for e in id_variants(v) & eval_ids})


def leak_warnings(pretraining_ids: set[str], eval_ids: dict[str, set[str]]) -> dict:
    result = {"warnings": []}
    for dataset, ids in eval_ids.items():
        found = leaked(ids, pretraining_ids)
        result[dataset] = found
        if found:
            message = (
                f"{len(found)} of the {len(ids)} {dataset} evaluation videos are in the "
                f"pretraining corpus (split != heldout), e.g. {', '.join(found[:5])}: their "
                "scores are not zero-shot"
            )
            log.warning(message)
            result["warnings"].append(message)
    return result


# -- entry point ----------------------------------------------------------------------------


def load(model_dir: str, device: str, tokenizer: str | None = None):
    """The model, and the text tokenizer: `tokenizer`, else the model dir's own, else the corpus
    default (bert-base-uncased's vocab, bundled)."""
    if not os.path.isdir(model_dir):
        raise SystemExit(f"no model at {model_dir}: run `make pretrain` first (or pass --model)")
    model = VideoBertForPreTraining.from_pretrained(model_dir).to(device)
    own = any(os.path.exists(os.path.join(model_dir, f)) for f in ("vocab.txt", "tokenizer.json"))
    return model, load_tokenizer(tokenizer or (model_dir if own else None))


def bert_prior_name(choice: str, model: VideoBertForPreTraining) -> str | None:
    """auto: the pretrained text BERT the model started from (recorded in its config), else
    minilm-local (a `random` init has no text-only checkpoint to ask)."""
    if choice == NONE:
        return None
    if choice != AUTO:
        return choice
    init = getattr(model.config, "text_init", "") or RANDOM
    return LOCAL_MINILM if init == RANDOM else init


def _lemmatised(vocab: dict[str, list[str]]) -> dict[str, list[str]]:
    return {w: sorted({lemma(x, w.upper()) for x in words}) for w, words in vocab.items()}


def heldout_and_baselines(files: list[str]) -> tuple[list[dict], CountBaselines, set[str]]:
    """The held-out segments (rows, in (video_id, segment_index) order), the count baselines of
    the other segments' visual tokens and those segments' video ids, streaming the shards batch
    by batch (only the held-out rows are kept)."""
    heldout, train_ids = [], set()

    def train_sequences():
        for batch in sio.iter_batches(files):
            is_heldout = pc.fill_null(pc.equal(batch["split"], "heldout"), False)
            heldout.extend(batch.filter(is_heldout).to_pylist())
            rest = batch.filter(pc.invert(is_heldout))
            train_ids.update(rest["video_id"].to_pylist())
            yield from rest["visual_tokens"].to_pylist()

    base = CountBaselines(train_sequences())
    heldout.sort(key=lambda s: (s["video_id"], s["segment_index"]))
    return heldout, base, train_ids


def evaluate(cfg: EvalConfig) -> dict:
    model, tokenizer = load(cfg.model, cfg.device, cfg.tokenizer)
    pred = Predictor(model, cfg.batch_size)
    seg_path = layout.corpus_glob(cfg.out)
    try:
        heldout, base, train_ids = heldout_and_baselines(corpus_files(cfg.out))
    except (FileNotFoundError, OSError) as e:
        raise SystemExit(f"no corpus at {seg_path} ({e}): run `make corpus` first") from e
    bert_name = bert_prior_name(cfg.bert_prior, model)
    metrics = {"model": cfg.model, "corpus": seg_path, "heldout_segments": len(heldout)}
    metrics["bert_prior"] = bert_name
    bert = load_text_bert(bert_name, tokenizer, cfg.device, cfg.batch_size) if bert_name else None

    datasets = {}
    if sio.exists(layout.ground_truth_path(cfg.out)):
        datasets["sample_world"] = sample_world_examples(cfg.out, max_visual=cfg.max_visual)
    if cfg.youcook2:
        yc2_out = cfg.youcook2_out or cfg.out
        datasets["youcook2"] = youcook2_examples(cfg.youcook2, yc2_out, cfg.max_visual)
    eval_ids = {name: d[3] for name, d in datasets.items()}
    metrics["leaks"] = leak_warnings(train_ids, eval_ids)
    zs = {}
    for name, (examples, vocab, train_labels, _) in datasets.items():
        verbs = Candidates.open_vocabulary(tokenizer, vocab["verb"], "VERB")
        nouns = Candidates.open_vocabulary(tokenizer, vocab["noun"], "NOUN")
        scorer = SlotScorer(pred, tokenizer, verbs, nouns)
        bert_scorer = SlotScorer(bert, tokenizer, verbs, nouns) if bert else None
        zs[name] = zero_shot(scorer, examples, _lemmatised(vocab), train_labels, bert_scorer)
    metrics["zero_shot"] = zs
    if heldout:
        metrics["forecasting"] = forecasting(pred, heldout, base)
        metrics["text_to_video"] = text_to_video(pred, heldout, base.unigram, cfg.examples)
    else:
        log.warning("no held-out segments in %s: forecasting and text-to-video skipped", seg_path)
    metrics["config"] = asdict(cfg)
    return metrics


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="VideoBERT dir (OUT/pretrain/final)")
    parser.add_argument("--out", required=True, help="corpus root; metrics go to OUT/eval/")
    parser.add_argument("--youcook2", default=None, help="YouCook II annotation JSON")
    parser.add_argument("--youcook2_out", default=None, help="corpus root of the YouCook II run")
    parser.add_argument(
        "--bert_prior",
        default=AUTO,
        help="text-only BERT for the 'BERT language prior' row: auto (the model's pretrained "
        "init, else minilm-local), none, or a Hub name / directory",
    )
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--device", default=EvalConfig.device)
    parser.add_argument("--metrics", default=None, help="default: OUT/eval/metrics.json")
    a = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = EvalConfig(
        a.model, a.out, a.youcook2, a.youcook2_out, a.bert_prior, a.batch_size, device=a.device
    )
    metrics = evaluate(cfg)
    path = a.metrics or layout.join(cfg.out, "eval", "metrics.json")
    sio.write_bytes(path, json.dumps(metrics, indent=2).encode())
    print(table(metrics))
    print(f"wrote {path}")
    return metrics


if __name__ == "__main__":
    run_cli(main)
