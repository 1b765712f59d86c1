"""Evaluate a pretrained VideoBERT: zero-shot action classification, forecasting, text-to-video.

    python -m model.evaluate --model OUT/pretrain/final --out OUT          # `make eval`
    python -m model.evaluate ... --youcook2 yc2_annotations_trainval.json --youcook2_out YC2_OUT

Writes `OUT/eval/metrics.json` and prints a table. Three tasks:

- **Zero-shot verb/noun classification** (the paper's Table 1). The model fills the template
  "now let me show you how to [MASK] the [MASK]" followed by `[>]` and a clip's visual tokens; the
  predictions are restricted to a verb and a noun vocabulary and scored top-1/top-5, side by side
  with the *language prior*: the same template with no video. A word of several WordPiece pieces
  fills its slot with that many `[MASK]`s and scores the mean log-probability of its pieces. On the
  sample world's held-out videos (labels: `OUT/sample/ground_truth.parquet`, clips: the visual
  tokens whose midpoint lies inside an action), and on YouCook II validation videos when their
  annotation file and a corpus run over them (`--youcook2_out`, tokenised with the pretraining
  corpus's centroids) are given; see `model.youcook` for the labels.
- **Future forecasting**: given the first half of a held-out segment's visual tokens, top-k accuracy
  of each following token, against two baselines: the train unigram distribution and repeating the
  last context token.
- **Text-to-video**: for a held-out sentence, the most likely visual tokens at each of its clip
  positions; top-k accuracy against the train unigram prior, and a few examples.
"""

import argparse
import json
import logging
import os
from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from model.data import collate, corpus_files, encode
from model.modeling import VideoBertForPreTraining
from model.youcook import labelled, read_annotations, vocabularies
from schemas import io as sio
from schemas import layout
from schemas.text import load_tokenizer

log = logging.getLogger(__name__)
TEMPLATE = ("now let me show you how to", "the")  # "... to [MASK] the [MASK]"
TOPK = (1, 5)


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
    batch_size: int = 64
    max_visual: int = 32
    """Visual tokens per input at most (longer spans are subsampled evenly)."""
    examples: int = 5
    tokenizer: str | None = None
    """The corpus's text tokenizer (`--tokenizer` of the sentences stage); default bundled."""
    device: str = "cuda" if torch.cuda.is_available() else "cpu"


class Predictor:
    """Batched masked-token log-probabilities from a VideoBERT."""

    def __init__(self, model: VideoBertForPreTraining, batch_size: int = 64):
        self.model, self.cfg, self.batch_size = model.eval(), model.config, batch_size
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def log_probs(self, inputs: list[dict], positions: list[list[int]]) -> list[torch.Tensor]:
        """Per input, `[len(positions), vocab]` log-probabilities at those positions."""
        out = []
        for i in range(0, len(inputs), self.batch_size):
            chunk = inputs[i : i + self.batch_size]
            batch = collate(chunk, self.cfg.pad_token_id)
            batch = {k: v.to(self.device) for k, v in batch.items()}
            logits = self.model(**batch).logits
            out += [
                logits[j, positions[i + j]].float().log_softmax(-1).cpu() for j in range(len(chunk))
            ]
        return out

    def mask_visual(self, text: list[int] | None, visual: list[int], last: int) -> tuple:
        """`encode(text, visual)` with its `last` visual tokens replaced by [MASK], and their
        positions."""
        enc = encode(text, visual, self.cfg)
        ids = enc["input_ids"]
        positions = [i for i, t in enumerate(ids) if self.cfg.is_visual(t)][len(visual) - last :]
        for i in positions:
            ids[i] = self.cfg.mask_token_id
        return enc, positions


def _subsample(tokens: list[int], n: int) -> list[int]:
    if len(tokens) <= n:
        return list(tokens)
    return [tokens[i] for i in np.linspace(0, len(tokens) - 1, n).round().astype(int)]


# -- zero-shot verb / noun classification ---------------------------------------------------


class SlotScorer:
    """Scores every vocabulary word in the template's verb and noun slots."""

    def __init__(self, predictor: Predictor, tokenizer, verbs: list[str], nouns: list[str]):
        self.p, self.verbs, self.nouns = predictor, verbs, nouns
        pieces = lambda w: tokenizer(w, add_special_tokens=False)["input_ids"]  # noqa: E731
        self.prefix, self.mid = (pieces(t) for t in TEMPLATE)
        self.verb_pieces = [pieces(w) for w in verbs]
        self.noun_pieces = [pieces(w) for w in nouns]

    def _slot_scores(self, visuals: list[list[int] | None], words: list[list[int]], slot: int):
        """[n_inputs, n_words]: mean log-prob of each word's pieces in `slot` (0 verb, 1 noun)."""
        mask = self.p.cfg.mask_token_id
        scores = np.zeros((len(visuals), len(words)))
        by_len = defaultdict(list)
        for w, ids in enumerate(words):
            by_len[len(ids)].append(w)
        for m, ws in sorted(by_len.items()):
            slots = [[mask] * (m if slot == 0 else 1), [mask] * (m if slot == 1 else 1)]
            text = self.prefix + slots[0] + self.mid + slots[1]
            start = 1 + len(self.prefix) + (0 if slot == 0 else 1 + len(self.mid))
            pos = list(range(start, start + m))
            inputs = [encode(text, v, self.p.cfg) for v in visuals]
            for i, lp in enumerate(self.p.log_probs(inputs, [pos] * len(inputs))):
                for w in ws:
                    scores[i, w] = lp[torch.arange(m), torch.tensor(words[w])].mean().item()
        return scores

    def scores(self, visuals: list[list[int] | None]) -> tuple[np.ndarray, np.ndarray]:
        return (
            self._slot_scores(visuals, self.verb_pieces, 0),
            self._slot_scores(visuals, self.noun_pieces, 1),
        )


def topk_accuracy(scores: np.ndarray, labels: list[set[int]], ks=TOPK) -> dict[str, float]:
    """Share of rows whose top-k (by score) holds any of the row's labels."""
    order = np.argsort(-scores, axis=1, kind="stable")
    out = {}
    for k in ks:
        hits = [bool(set(order[i, :k].tolist()) & lab) for i, lab in enumerate(labels)]
        out[f"top{k}"] = float(np.mean(hits)) if hits else float("nan")
    return out


def zero_shot(scorer: SlotScorer, examples: list[dict]) -> dict:
    """Cross-modal vs language-prior top-k for verbs and nouns over labelled clips."""
    visuals = [e["visual"] for e in examples]
    vs, ns = scorer.scores(visuals)
    prior_v, prior_n = scorer.scores([None])
    result = {"n_clips": len(examples)}
    for name, words, scores, prior in (
        ("verb", scorer.verbs, vs, prior_v),
        ("noun", scorer.nouns, ns, prior_n),
    ):
        index = {w: i for i, w in enumerate(words)}
        labels = [{index[w] for w in e[f"{name}s"] if w in index} for e in examples]
        keep = [i for i, lab in enumerate(labels) if lab]
        labels = [labels[i] for i in keep]
        result[name] = {
            "vocabulary": len(words),
            "n": len(keep),
            "cross_modal": topk_accuracy(scores[keep], labels),
            "language_prior": topk_accuracy(np.repeat(prior, len(keep), axis=0), labels),
            "prior_top1_word": words[int(np.argmax(prior[0]))],
        }
    return result


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
    """Labelled clips of the sample world's held-out actions, and its verb/noun vocabularies."""
    with sio.open_input(layout.ground_truth_path(out)) as f:
        truth = pq.read_table(f).to_pylist()
    verbs = sorted({a["verb"] for a in truth})
    nouns = sorted({a["noun"] for a in truth})
    span_tokens, examples = SpanTokens(out, max_visual), []
    for a in truth:
        if a["split"] != split:
            continue
        if visual := span_tokens(a["video_id"], a["start_s"], a["end_s"]):
            examples.append(
                {"video_id": a["video_id"], "visual": visual,
                 "verbs": [a["verb"]], "nouns": [a["noun"]]}
            )  # fmt: skip
    return examples, verbs, nouns


def youcook2_examples(annotations: str, out: str, max_visual: int = 32) -> tuple:
    """Labelled YouCook II validation clips with visual tokens in `out`, and the vocabularies."""
    captions = read_annotations(annotations)
    verbs, nouns = vocabularies(captions)
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
    return examples, verbs, nouns


# -- forecasting and text-to-video ----------------------------------------------------------


def _visual_topk(lp: torch.Tensor, cfg, k: int) -> np.ndarray:
    """Top-k leaf ids per row of `[n, vocab]` log-probs, restricted to visual tokens."""
    vis = lp[:, cfg.first_visual_id : cfg.first_visual_id + cfg.num_visual_tokens]
    return vis.topk(min(k, vis.shape[1]), dim=1).indices.numpy()


def _hits(ranked: list[list[int]], targets: list[int], ks=TOPK) -> dict[str, float]:
    return {
        f"top{k}": float(np.mean([t in r[:k] for r, t in zip(ranked, targets, strict=True)]))
        if targets
        else float("nan")
        for k in ks
    }


def forecasting(pred: Predictor, heldout: list[dict], unigram: list[int], horizon: int = 3):
    """Top-k of each next visual token given a segment's first half (video-only input)."""
    inputs, positions, targets, last = [], [], [], []
    for seg in heldout:
        v = seg["visual_tokens"]
        if len(v) < 2:
            continue
        c = max(1, len(v) // 2)
        target = v[c : c + horizon]
        enc, pos = pred.mask_visual(None, v[:c] + target, len(target))
        inputs.append(enc)
        positions.append(pos)
        targets += target
        last += [v[c - 1]] * len(target)
    k = max(TOPK)
    lps = pred.log_probs(inputs, positions)
    ranked = [r for lp in lps for r in _visual_topk(lp, pred.cfg, k).tolist()]
    repeat = [[t] + [u for u in unigram if u != t][: k - 1] for t in last]
    return {
        "n_targets": len(targets),
        "model": _hits(ranked, targets),
        "unigram": _hits([unigram[:k]] * len(targets), targets),
        "repeat_last": _hits(repeat, targets),
    }


def text_to_video(pred: Predictor, heldout: list[dict], unigram: list[int], n_examples: int):
    """Most likely visual tokens for held-out sentences, scored against their real clips."""
    segs = [s for s in heldout if s["text_token_ids"] and s["visual_tokens"]]
    inputs, positions = [], []
    for s in segs:
        v = s["visual_tokens"]
        enc, pos = pred.mask_visual(s["text_token_ids"], v, len(v))
        inputs.append(enc)
        positions.append(pos)
    k = max(TOPK)
    per_seg = [_visual_topk(lp, pred.cfg, k).tolist() for lp in pred.log_probs(inputs, positions)]
    ranked = [r for rows in per_seg for r in rows]
    targets = [t for s in segs for t in s["visual_tokens"]]
    examples = [
        {"video_id": s["video_id"], "text": s["text"], "visual_tokens": s["visual_tokens"],
         "predicted_top5_first_clip": rows[0][:5]}
        for s, rows in list(zip(segs, per_seg, strict=True))[:n_examples]
    ]  # fmt: skip
    return {
        "n_targets": len(targets),
        "model": _hits(ranked, targets),
        "unigram": _hits([unigram[:k]] * len(targets), targets),
        "examples": examples,
    }


# -- entry point ----------------------------------------------------------------------------


def load(model_dir: str, device: str, tokenizer: str | None = None):
    """The model, and the text tokenizer: `tokenizer`, else the model dir's own, else the corpus
    default (bert-base-uncased's vocab, bundled)."""
    if not os.path.isdir(model_dir):
        raise SystemExit(f"no model at {model_dir}: run `make pretrain` first (or pass --model)")
    model = VideoBertForPreTraining.from_pretrained(model_dir).to(device)
    own = any(os.path.exists(os.path.join(model_dir, f)) for f in ("vocab.txt", "tokenizer.json"))
    return model, load_tokenizer(tokenizer or (model_dir if own else None))


def heldout_and_unigram(files: list[str]) -> tuple[list[dict], list[int]]:
    """The held-out segments (rows, in (video_id, segment_index) order) and the visual tokens of
    the other segments by descending count (ties by id), streaming the shards batch by batch."""
    heldout, counts = [], np.zeros(0, np.int64)
    for batch in sio.iter_batches(files):
        is_heldout = pc.fill_null(pc.equal(batch["split"], "heldout"), False)
        heldout += batch.filter(is_heldout).to_pylist()
        rest = batch.filter(pc.invert(is_heldout))["visual_tokens"]
        tokens = pc.list_flatten(rest).to_numpy(zero_copy_only=False).astype(np.int64)
        grown = np.bincount(tokens, minlength=len(counts))
        grown[: len(counts)] += counts
        counts = grown
    heldout.sort(key=lambda s: (s["video_id"], s["segment_index"]))
    order = np.lexsort((np.arange(len(counts)), -counts))
    return heldout, [int(t) for t in order if counts[t] > 0]


def evaluate(cfg: EvalConfig) -> dict:
    model, tokenizer = load(cfg.model, cfg.device, cfg.tokenizer)
    pred = Predictor(model, cfg.batch_size)
    seg_path = layout.corpus_glob(cfg.out)
    try:
        heldout, unigram = heldout_and_unigram(corpus_files(cfg.out))
    except (FileNotFoundError, OSError) as e:
        raise SystemExit(f"no corpus at {seg_path} ({e}): run `make corpus` first") from e
    metrics = {"model": cfg.model, "corpus": seg_path, "heldout_segments": len(heldout)}

    zs = {}
    if sio.exists(layout.ground_truth_path(cfg.out)):
        ex, verbs, nouns = sample_world_examples(cfg.out, max_visual=cfg.max_visual)
        zs["sample_world"] = zero_shot(SlotScorer(pred, tokenizer, verbs, nouns), ex)
    if cfg.youcook2:
        ex, verbs, nouns = youcook2_examples(
            cfg.youcook2, cfg.youcook2_out or cfg.out, cfg.max_visual
        )
        zs["youcook2"] = zero_shot(SlotScorer(pred, tokenizer, verbs, nouns), ex)
    metrics["zero_shot"] = zs
    if heldout:
        metrics["forecasting"] = forecasting(pred, heldout, unigram)
        metrics["text_to_video"] = text_to_video(pred, heldout, unigram, cfg.examples)
    else:
        log.warning("no held-out segments in %s: forecasting and text-to-video skipped", seg_path)
    metrics["config"] = asdict(cfg)
    return metrics


def table(metrics: dict) -> str:
    """The metrics as a plain-text table (Table 1 layout for zero-shot)."""
    lines = [f"{'task':<34}{'model':>14}{'top-1':>8}{'top-5':>8}{'n':>7}"]
    for dataset, r in metrics.get("zero_shot", {}).items():
        for what in ("verb", "noun"):
            for method in ("language_prior", "cross_modal"):
                a = r[what][method]
                lines.append(
                    f"{dataset + ' ' + what:<34}{method:>14}"
                    f"{a['top1']:>8.3f}{a['top5']:>8.3f}{r[what]['n']:>7}"
                )
    for task in ("forecasting", "text_to_video"):
        r = metrics.get(task)
        for method in ("unigram", "repeat_last", "model") if r else ():
            if method in r:
                a = r[method]
                lines.append(
                    f"{task:<34}{method:>14}{a['top1']:>8.3f}{a['top5']:>8.3f}{r['n_targets']:>7}"
                )
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="VideoBERT dir (OUT/pretrain/final)")
    parser.add_argument("--out", required=True, help="corpus root; metrics go to OUT/eval/")
    parser.add_argument("--youcook2", default=None, help="YouCook II annotation JSON")
    parser.add_argument("--youcook2_out", default=None, help="corpus root of the YouCook II run")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--device", default=EvalConfig.device)
    parser.add_argument("--metrics", default=None, help="default: OUT/eval/metrics.json")
    a = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = EvalConfig(
        a.model, a.out, a.youcook2, a.youcook2_out, batch_size=a.batch_size, device=a.device
    )
    metrics = evaluate(cfg)
    path = a.metrics or layout.join(cfg.out, "eval", "metrics.json")
    sio.write_bytes(path, json.dumps(metrics, indent=2).encode())
    print(table(metrics))
    print(f"wrote {path}")
    return metrics


if __name__ == "__main__":
    main()
