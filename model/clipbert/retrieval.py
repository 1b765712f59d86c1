"""`make retrieval`: text-to-video retrieval, ClipBERT and VideoBERT side by side with chance.

    python -m model.clipbert.retrieval --out OUT [--clipbert OUT/clipbert/final]
        [--videobert OUT/pretrain/final] [--msrvtt_test_csv CSV --videos DIR]
        [--youcook2 JSON --videos DIR]

Every query text is scored against every gallery video span; metrics: R@1, R@5, R@10 (share of
queries with a hit among the first k) and the median rank of the first hit (MdR). Chance: the
expected R@k of a random order, 1 - C(G - m, k) / C(G, k) for a query with m hits among G, and
the median of the expected first-hit ranks (G + 1) / (m + 1).

- ClipBERT: each gallery span's `eval_clips` dense clips are encoded once; a (query, video)
  score aggregates the clip scores (LogSumExp or mean, the model's `aggregate`).
- VideoBERT (when a pretrained model exists, default OUT/pretrain/final): the alignment head's
  log-odds for `[CLS] query [>] the span's visual tokens [SEP]` (OUT/tokens, the clips whose
  midpoint lies in the span, as `make eval`). Sample world only: it needs the corpus's tokens.

Data: the sample world's held-out actions by default (model.clipbert.datasets); MSRVTT 1K-A or
YouCook II validation segments when given. Writes OUT/eval/retrieval.json and prints a table.
"""

import argparse
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import torch

from model.clipbert.data import ClipDataset, Collate, loader, pad_text
from model.clipbert.datasets import (
    RetrievalSet,
    msrvtt_retrieval,
    pairs_retrieval,
    sample_world_retrieval,
    youcook2_pairs,
)
from model.clipbert.modeling import ClipBertForRetrieval, aggregate
from model.clipbert.sampling import SamplingConfig
from schemas.process import run_cli
from schemas.text import load_tokenizer

log = logging.getLogger(__name__)
KS = (1, 5, 10)


def first_hit_ranks(scores: np.ndarray, relevant: list[set[int]]) -> np.ndarray:
    """(Q,) 1-based rank of each query's best-ranked hit (ties broken against the query:
    a hit tied with k others ranks after them)."""
    ranks = []
    for q, hits in enumerate(relevant):
        best = max(scores[q, j] for j in hits)
        better = int((scores[q] > best).sum())
        ties = int((scores[q] == best).sum()) - sum(scores[q, j] == best for j in hits)
        ranks.append(1 + better + ties)
    return np.asarray(ranks)


def metrics_from_ranks(ranks: np.ndarray) -> dict[str, float]:
    out = {f"R@{k}": float(np.mean(ranks <= k)) for k in KS}
    out["MdR"] = float(np.median(ranks))
    return out


def chance(n_gallery: int, relevant: list[set[int]]) -> dict[str, float]:
    """Expected metrics of a random ranking (module docstring)."""
    out = {}
    for k in KS:
        miss = [
            math.comb(n_gallery - len(h), k) / math.comb(n_gallery, k) if k <= n_gallery else 0.0
            for h in relevant
        ]
        out[f"R@{k}"] = float(1 - np.mean(miss))
    out["MdR"] = float(np.median([(n_gallery + 1) / (len(h) + 1) for h in relevant]))
    return out


def _read_preset(model_dir: str) -> dict:
    path = Path(model_dir) / "preset.json"
    return json.loads(path.read_text()) if path.exists() else {}


@torch.no_grad()
def clipbert_scores(
    model: ClipBertForRetrieval,
    data: RetrievalSet,
    tokenize,
    sampling: SamplingConfig,
    *,
    workers: int = 2,
    batch: int = 256,
) -> np.ndarray:
    """(Q, G) ClipBERT scores; gallery spans that fail to decode score -inf (counted)."""
    dev = next(model.parameters()).device
    cfg = model.config
    collate = Collate(cfg.cls_token_id, cfg.sep_token_id, cfg.pad_token_id)
    dataset = ClipDataset(data.gallery, sampling)
    visual, failed = {}, []
    with torch.autocast(dev.type, torch.bfloat16, enabled=dev.type == "cuda"):
        for b in loader(dataset, collate, batch_size=8, workers=workers):
            failed += b["skipped"]
            if len(b["index"]):
                grids = model.encode_video(b["frames"].to(dev)).float()  # (b, N, G, H)
                visual.update(zip(b["index"].tolist(), grids, strict=True))
        if failed:
            log.warning("retrieval: %d gallery videos failed to decode: %s", len(failed), failed)
        ids, mask = pad_text([tokenize(q) for q in data.queries], cfg.cls_token_id,
                             cfg.sep_token_id, cfg.pad_token_id, 64)  # fmt: skip
        ids, mask = ids.to(dev), mask.to(dev)
        scores = np.full((len(data.queries), len(data.gallery)), -np.inf, dtype=np.float64)
        pairs = [(q, g) for g in sorted(visual) for q in range(len(data.queries))]
        step = max(1, batch // sampling.clips)
        for i in range(0, len(pairs), step):
            q, g = (torch.tensor(x) for x in zip(*pairs[i : i + step], strict=True))
            v = torch.stack([visual[int(j)] for j in g])
            s = aggregate(model.clip_scores(ids[q.to(dev)], mask[q.to(dev)], v), cfg.aggregate)
            scores[q.numpy(), g.numpy()] = s.float().cpu().numpy()
    return scores


@torch.no_grad()
def videobert_scores(model_dir: str, out: str, data: RetrievalSet, tokenize, device: str):
    """(Q, G) VideoBERT alignment log-odds (module docstring); None without a model."""
    from model.data import collate, encode
    from model.evaluate import SpanTokens
    from model.modeling import VideoBertForPreTraining

    if not os.path.isdir(model_dir):
        log.warning("no VideoBERT at %s (make pretrain): its column is left out", model_dir)
        return None
    model = VideoBertForPreTraining.from_pretrained(model_dir).to(device).eval()
    span_tokens = SpanTokens(out, 32)
    visual = [span_tokens(p.video_id, p.start_s, p.end_s) for p in data.gallery]
    texts = [list(tokenize(q)) for q in data.queries]
    scores = np.full((len(texts), len(visual)), -np.inf)
    pairs = [(q, g) for q in range(len(texts)) for g in range(len(visual)) if visual[g]]
    for i in range(0, len(pairs), 256):
        chunk = pairs[i : i + 256]
        batch = collate([encode(texts[q], visual[g], model.config) for q, g in chunk],
                        model.config.pad_token_id)  # fmt: skip
        logits = model(**{k: v.to(device) for k, v in batch.items()}).alignment_logits.float()
        for (q, g), s in zip(chunk, (logits[:, 1] - logits[:, 0]).tolist(), strict=True):
            scores[q, g] = s
    return scores


def evaluate(args) -> dict:
    tokenizer = load_tokenizer(None)
    tokenize = lambda t: tuple(tokenizer(t, add_special_tokens=False)["input_ids"])  # noqa: E731
    if args.msrvtt_test_csv:
        data = msrvtt_retrieval(args.msrvtt_test_csv, args.videos, tokenize)
    elif args.youcook2:
        data = pairs_retrieval(
            "youcook2_val", youcook2_pairs(args.youcook2, args.videos, tokenize, "validation")
        )
    else:
        data = sample_world_retrieval(args.out, tokenize)
    if not data.queries:
        raise SystemExit(f"{data.name}: no queries with a video file")
    result = {"dataset": data.name, "queries": len(data.queries), "gallery": len(data.gallery)}
    result["chance"] = chance(len(data.gallery), data.relevant)
    videobert = args.videobert or f"{args.out.rstrip('/')}/pretrain/final"
    if data.name == "sample_world":
        vb = videobert_scores(videobert, args.out, data, tokenize, args.device)
        if vb is not None:
            result["videobert"] = metrics_from_ranks(first_hit_ranks(vb, data.relevant))
    clipbert = args.clipbert or f"{args.out.rstrip('/')}/clipbert/final"
    if not os.path.isdir(clipbert):
        raise SystemExit(f"no ClipBERT at {clipbert}: run `make clipbert` first (or --clipbert)")
    model = ClipBertForRetrieval.from_pretrained(clipbert).to(args.device).eval()
    preset = _read_preset(clipbert)
    sampling = SamplingConfig(
        clips=args.clips or preset.get("eval_clips", 16), frames=preset.get("frames", 1),
        clip_s=preset.get("clip_s", 1.0), side=preset.get("side", 224),
    )  # fmt: skip
    cb = clipbert_scores(model, data, tokenize, sampling, workers=args.workers)
    result["clipbert"] = metrics_from_ranks(first_hit_ranks(cb, data.relevant))
    result["clipbert_sampling"] = {"clips": sampling.clips, "frames": sampling.frames}
    return result


def table(result: dict) -> str:
    head = "".join(f"{k:>8}" for k in ("R@1", "R@5", "R@10", "MdR"))
    lines = [f"text-to-video retrieval: {result['dataset']}, {result['queries']} queries, "
             f"gallery {result['gallery']}", f"{'method':<12}{head}"]  # fmt: skip
    for method in ("chance", "videobert", "clipbert"):
        if method in result:
            m = result[method]
            lines.append(f"{method:<12}" + "".join(f"{m[k]:>8.3f}" for k in ("R@1", "R@5", "R@10"))
                         + f"{m['MdR']:>8.1f}")  # fmt: skip
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="corpus root; writes OUT/eval/retrieval.json")
    p.add_argument("--clipbert", help="default OUT/clipbert/final")
    p.add_argument("--videobert", help="default OUT/pretrain/final")
    p.add_argument("--msrvtt_test_csv", help="MSRVTT_JSFUSION_test.csv (1K-A)")
    p.add_argument("--youcook2", help="youcookii_annotations_trainval.json (validation split)")
    p.add_argument("--videos", help="msrvtt / youcook2 video directory")
    p.add_argument("--clips", type=int, help="dense clips per video (default: the preset's)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--metrics", help="default OUT/eval/retrieval.json")
    args = p.parse_args(argv)
    if (args.msrvtt_test_csv or args.youcook2) and not args.videos:
        p.error("--msrvtt_test_csv / --youcook2 need --videos")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    result = evaluate(args)
    path = Path(args.metrics or f"{args.out.rstrip('/')}/eval/retrieval.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".tmp").write_text(json.dumps(result, indent=2))
    path.with_suffix(".tmp").replace(path)
    print(table(result))
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    run_cli(main)
