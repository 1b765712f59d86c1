"""Captioning features read out of a pretrained VideoBERT, as the paper extracts them (§4.6).

For a segment with visual tokens v1..vn the model reads

    [CLS] now let's [MASK] the [MASK] to the [MASK], and then [MASK] the [MASK]. [>] v1..vn [SEP]

and the feature is the mean final hidden state over the video tokens concatenated with the mean
over the masked words (2 × hidden). "VideoBERT + S3D" appends the mean S3D vector of the
segment's clips (`model.caption.data.SpanInputs.s3d`). Batched, on any device; cached per
segment in `CACHE/videobert-<fingerprint>.parquet` (schemas.caption.CAPTION_FEATURES), where the
fingerprint hashes the model's weights and config, the template and `max_visual`: a rerun only
computes segments not yet in the file, and another model never reads this one's features.
"""

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from model.config import VideoBertConfig
from model.data import collate, encode
from model.modeling import VideoBertForPreTraining
from schemas.caption import CAPTION_FEATURES

log = logging.getLogger(__name__)
TEMPLATE = "now let's [MASK] the [MASK] to the [MASK], and then [MASK] the [MASK]."
FINGERPRINTED = ("config.json", "model.safetensors", "pytorch_model.bin")


def fingerprint(model_dir: str | Path, max_visual: int, template: str = TEMPLATE) -> str:
    """16 hex digits over the model's weight/config files, the template and `max_visual`."""
    h = hashlib.sha256(f"{template}\n{max_visual}\n".encode())
    for name in FINGERPRINTED:
        path = Path(model_dir) / name
        if path.exists():
            h.update(name.encode())
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:16]


def check_vocabulary(config: VideoBertConfig, centroids: str | Path, model_dir: str) -> None:
    """Raises ValueError when the model's visual vocabulary is not the corpus's k-means tree."""
    try:
        meta = pq.read_schema(centroids).metadata or {}
    except (FileNotFoundError, OSError) as e:
        raise FileNotFoundError(f"no k-means tree at {centroids} ({e}): run `make corpus`") from e
    k, depth = int(meta.get(b"k", -1)), int(meta.get(b"depth", -1))
    if (k, depth) != (config.visual_k, config.visual_depth):
        raise ValueError(
            f"model {model_dir} was pretrained on a k={config.visual_k}, depth="
            f"{config.visual_depth} tree ({config.num_visual_tokens} visual tokens) but the corpus "
            f"was tokenised with {centroids} (k={k}, depth={depth}): its visual tokens mean "
            "other things to this model. Pretrain on this corpus (`make pretrain OUT=...`), or "
            "tokenise the videos with the pretraining run's centroids (copy its "
            "kmeans/centroids.parquet into OUT/kmeans/ before the tokens stage)."
        )


class VideoBertFeatures:
    """Batched template read-out: `(visual token lists) -> (N, 2H)` float32."""

    def __init__(self, model: VideoBertForPreTraining, tokenizer, batch_size: int = 64):
        self.model, self.cfg, self.batch_size = model.eval(), model.config, batch_size
        self.device = next(model.parameters()).device
        self.text = tokenizer(TEMPLATE, add_special_tokens=False)["input_ids"]
        if self.text.count(self.cfg.mask_token_id) != 5:
            raise ValueError("the tokenizer does not map [MASK] to the model's mask id")

    @torch.no_grad()
    def __call__(self, visuals: Sequence[Sequence[int]]) -> np.ndarray:
        out = []
        for i in range(0, len(visuals), self.batch_size):
            chunk = [encode(self.text, v, self.cfg) for v in visuals[i : i + self.batch_size]]
            batch = {k: t.to(self.device) for k, t in collate(chunk, self.cfg.pad_token_id).items()}
            hidden = self.model.bert(**batch).last_hidden_state.float()  # (B, T, H)
            ids = batch["input_ids"]
            video = self.cfg.is_visual(ids).float()  # (B, T); pads are id 0: never visual
            masked = (ids == self.cfg.mask_token_id).float()
            out.append(torch.cat([_masked_mean(hidden, video), _masked_mean(hidden, masked)], 1))
        hidden_size = self.cfg.hidden_size
        return torch.cat(out).cpu().numpy() if out else np.zeros((0, 2 * hidden_size), np.float32)


def _masked_mean(hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(B, H) mean of hidden (B, T, H) over the positions where weight (B, T) is 1."""
    return (hidden * weight[..., None]).sum(1) / weight.sum(1, keepdim=True).clamp(min=1)


def cached_features(
    extractor: VideoBertFeatures,
    fp: str,
    cache_dir: str | Path,
    segment_ids: Sequence[str],
    visuals: Sequence[Sequence[int]],
) -> np.ndarray:
    """(N, 2H) features of the segments, in order: read from the cache file of fingerprint `fp`
    when there, computed (and added to the file, written atomically) otherwise."""
    path = Path(cache_dir) / f"videobert-{fp}.parquet"
    known: dict[str, np.ndarray] = {}
    if path.exists():
        table = pq.read_table(path)
        video = np.stack(table.column("video_mean").to_numpy(zero_copy_only=False))
        text = np.stack(table.column("text_mean").to_numpy(zero_copy_only=False))
        known = dict(zip(table.column("segment_id").to_pylist(), np.hstack([video, text]),
                         strict=True))  # fmt: skip
    todo = [i for i, s in enumerate(segment_ids) if s not in known]
    if todo:
        log.info("features: %d segments to compute, %d cached (%s)", len(todo),
                 len(segment_ids) - len(todo), path.name)  # fmt: skip
        computed = extractor([visuals[i] for i in todo])
        known.update({segment_ids[i]: row for i, row in zip(todo, computed, strict=True)})
        _write(path, known, fp)
    return np.stack([known[s] for s in segment_ids]).astype(np.float32)


def _write(path: Path, rows: dict[str, np.ndarray], fp: str) -> None:
    ids = sorted(rows)
    half = len(next(iter(rows.values()))) // 2
    matrix = np.stack([rows[s] for s in ids]).astype(np.float32)
    columns = [
        pa.array(ids, pa.string()),
        pa.array(list(matrix[:, :half]), CAPTION_FEATURES.field("video_mean").type),
        pa.array(list(matrix[:, half:]), CAPTION_FEATURES.field("text_mean").type),
    ]
    schema = CAPTION_FEATURES.with_metadata({"fingerprint": fp, "template": TEMPLATE})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    pq.write_table(pa.Table.from_arrays(columns, schema=schema), tmp, compression="zstd")
    os.replace(tmp, path)
