"""Video-only forecasting and text-to-video on held-out segments, beside count baselines.

- **Next tokens** (`forecasting["next"]`): given the first half of a held-out segment's visual
  tokens, top-k of each of the next `horizon` tokens (masked together). Visual tokens repeat a lot
  (a clip often looks like the one before), so "repeat the last token" is a strong baseline here.
- **Transition** (`forecasting["transition"]`): the next token that *differs* from the last
  context token: what comes after the current visual word ends. The model is read at the first
  masked position with the last context token removed from its candidates.
Baselines, fitted on the pretraining (non-held-out) segments of the same corpus: the unigram
ranking, repeating the last token (next tokens only: it never scores a transition), and bigram
counts given the last context token (all successive pairs for next tokens; pairs of different
tokens for the transition), backed off to the unigram ranking.

- **Text-to-video**: for a held-out sentence, the most likely visual token at each of its clip
  positions; top-k against the unigram ranking.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np
import torch

from model.predict import Predictor

TOPK = (1, 5)


def _visual_topk(lp: torch.Tensor, cfg, k: int, exclude: int | None = None) -> list[int]:
    """Top-k leaf ids of one row of joint-vocabulary log-probs (visual ids only)."""
    vis = lp[cfg.first_visual_id : cfg.first_visual_id + cfg.num_visual_tokens].clone()
    if exclude is not None:
        vis[exclude] = -float("inf")
    return vis.topk(min(k, vis.shape[0])).indices.tolist()


def hits(ranked: list[list[int]], targets: list[int], ks=TOPK) -> dict[str, float]:
    return {
        f"top{k}": float(np.mean([t in r[:k] for r, t in zip(ranked, targets, strict=True)]))
        if targets
        else float("nan")
        for k in ks
    }


class CountBaselines:
    """Unigram and bigram rankings of visual tokens from training token sequences."""

    def __init__(self, sequences: Iterable[list[int]], k: int = max(TOPK)):
        """One pass over `sequences` (a generator streaming the corpus shards will do)."""
        self.k = k
        counts = Counter()
        self.bigram, self.transition = defaultdict(Counter), defaultdict(Counter)
        for s in sequences:
            counts.update(s)
            for a, b in zip(s[:-1], s[1:], strict=True):
                self.bigram[a][b] += 1
                if a != b:
                    self.transition[a][b] += 1
        self.unigram = [t for t, _ in counts.most_common()]

    def _ranked(self, counter: Counter, exclude: int | None = None) -> list[int]:
        ranked = [t for t, _ in counter.most_common() if t != exclude][: self.k]
        fill = (t for t in self.unigram if t not in ranked and t != exclude)
        while len(ranked) < self.k and (t := next(fill, None)) is not None:
            ranked.append(t)
        return ranked

    def unigram_without(self, last: int) -> list[int]:
        return self._ranked(Counter(), exclude=last)

    def next_after(self, last: int) -> list[int]:
        return self._ranked(self.bigram.get(last, Counter()))

    def transition_after(self, last: int) -> list[int]:
        return self._ranked(self.transition.get(last, Counter()), exclude=last)


def forecasting(pred: Predictor, heldout: list[dict], base: CountBaselines, horizon: int = 3):
    """Next-token and transition top-k, model vs count baselines (see the module docstring)."""
    k = max(TOPK)
    nxt = {"inputs": [], "positions": [], "targets": [], "last": []}
    trans = {"inputs": [], "positions": [], "targets": [], "last": []}
    for seg in heldout:
        v = seg["visual_tokens"]
        if len(v) < 2:
            continue
        c = max(1, len(v) // 2)
        target = v[c : c + horizon]
        enc, pos = pred.mask_visual(None, v[:c] + target, len(target))
        nxt["inputs"].append(enc)
        nxt["positions"].append(pos)
        nxt["targets"] += target
        nxt["last"] += [v[c - 1]] * len(target)
        if (change := next((t for t in v[c:] if t != v[c - 1]), None)) is not None:
            enc, pos = pred.mask_visual(None, v[:c] + [change], 1)
            trans["inputs"].append(enc)
            trans["positions"].append(pos)
            trans["targets"].append(change)
            trans["last"].append(v[c - 1])
    lps = pred.log_probs(nxt["inputs"], nxt["positions"])
    model_next = [_visual_topk(row, pred.cfg, k) for lp in lps for row in lp]
    lps = pred.log_probs(trans["inputs"], trans["positions"])
    model_trans = [
        _visual_topk(lp[0], pred.cfg, k, exclude=last)
        for lp, last in zip(lps, trans["last"], strict=True)
    ]
    repeat = [[t] + [u for u in base.unigram if u != t][: k - 1] for t in nxt["last"]]
    targets, last = nxt["targets"], nxt["last"]
    return {
        "next": {
            "n_targets": len(targets),
            "model": hits(model_next, targets),
            "unigram": hits([base.unigram[:k]] * len(targets), targets),
            "repeat_last": hits(repeat, targets),
            "bigram": hits([base.next_after(t) for t in last], targets),
        },
        "transition": {
            "n_targets": len(trans["targets"]),
            "model": hits(model_trans, trans["targets"]),
            "unigram": hits([base.unigram_without(t) for t in trans["last"]], trans["targets"]),
            "bigram": hits([base.transition_after(t) for t in trans["last"]], trans["targets"]),
        },
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
    per_seg = [
        [_visual_topk(row, pred.cfg, k) for row in lp] for lp in pred.log_probs(inputs, positions)
    ]
    ranked = [r for rows in per_seg for r in rows]
    targets = [t for s in segs for t in s["visual_tokens"]]
    examples = [
        {"video_id": s["video_id"], "text": s["text"], "visual_tokens": s["visual_tokens"],
         "predicted_top5_first_clip": rows[0][:5]}
        for s, rows in list(zip(segs, per_seg, strict=True))[:n_examples]
    ]  # fmt: skip
    return {
        "n_targets": len(targets),
        "model": hits(ranked, targets),
        "unigram": hits([unigram[:k]] * len(targets), targets),
        "examples": examples,
    }
