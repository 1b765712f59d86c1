"""Masked-token log-probabilities from VideoBERT or from a text-only BERT, behind one interface.

`MaskedLM` is what the zero-shot scorer (model.zeroshot) needs: `encode` one input (text WordPiece
ids, optionally visual leaf ids), and batched `log_probs` at given positions. `Predictor` wraps a
VideoBERT (joint vocabulary); `TextBert` a plain BERT with an MLM head (the paper's "BERT language
prior" row: the text-only checkpoint VideoBERT starts from, not fine-tuned).
"""

import logging
import os
from typing import Protocol

import torch
from transformers import BertForMaskedLM

from model.data import collate, encode
from model.modeling import VideoBertForPreTraining

log = logging.getLogger(__name__)


class MaskedLM(Protocol):
    mask_token_id: int
    text_vocab_size: int

    def encode(self, text: list[int], visual: list[int] | None) -> dict: ...

    def log_probs(self, inputs: list[dict], positions: list[list[int]]) -> list[torch.Tensor]: ...


class _Batched:
    model: torch.nn.Module
    batch_size: int
    pad_token_id: int

    @torch.no_grad()
    def log_probs(self, inputs: list[dict], positions: list[list[int]]) -> list[torch.Tensor]:
        """Per input, `[len(positions), vocab]` log-probabilities at those positions."""
        device = next(self.model.parameters()).device
        out = []
        for i in range(0, len(inputs), self.batch_size):
            chunk = inputs[i : i + self.batch_size]
            batch = {k: v.to(device) for k, v in collate(chunk, self.pad_token_id).items()}
            logits = self.model(**batch).logits
            out += [
                logits[j, positions[i + j]].float().log_softmax(-1).cpu() for j in range(len(chunk))
            ]
        return out


class Predictor(_Batched):
    """Batched masked-token log-probabilities from a VideoBERT (over the joint vocabulary)."""

    def __init__(self, model: VideoBertForPreTraining, batch_size: int = 64):
        self.model, self.cfg, self.batch_size = model.eval(), model.config, batch_size
        self.pad_token_id, self.mask_token_id = self.cfg.pad_token_id, self.cfg.mask_token_id
        self.text_vocab_size = self.cfg.text_vocab_size

    def encode(self, text: list[int] | None, visual: list[int] | None) -> dict:
        return encode(text, visual, self.cfg)

    def mask_visual(self, text: list[int] | None, visual: list[int], last: int) -> tuple:
        """`encode(text, visual)` with its `last` visual tokens replaced by [MASK], and their
        positions."""
        enc = encode(text, visual, self.cfg)
        ids = enc["input_ids"]
        positions = [i for i, t in enumerate(ids) if self.cfg.is_visual(t)][len(visual) - last :]
        for i in positions:
            ids[i] = self.cfg.mask_token_id
        return enc, positions


class TextBert(_Batched):
    """A text-only BERT's masked-token log-probabilities: `[CLS] text [SEP]` (no video)."""

    def __init__(self, model: BertForMaskedLM, tokenizer, batch_size: int = 64):
        self.model, self.batch_size = model.eval(), batch_size
        self.pad_token_id, self.mask_token_id = tokenizer.pad_token_id, tokenizer.mask_token_id
        self.cls_token_id, self.sep_token_id = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.text_vocab_size = model.config.vocab_size

    def encode(self, text: list[int], visual: list[int] | None = None) -> dict:
        if visual:
            raise ValueError("a text-only BERT takes no visual tokens")
        ids = [self.cls_token_id, *text, self.sep_token_id]
        return {
            "input_ids": ids,
            "token_type_ids": [0] * len(ids),
            "attention_mask": [1] * len(ids),
        }


def load_text_bert(name: str, tokenizer, device: str, batch_size: int = 64) -> TextBert:
    """The text-only BERT `name` (`minilm-local`, a Hub name, a directory) with its MLM head. A
    checkpoint without one (minilm-local: a sentence encoder) gets a fresh head tied to its word
    embeddings: logged, since its prior then says little."""
    from model.init import LOCAL_MINILM, minilm_dir

    source = str(minilm_dir()) if name == LOCAL_MINILM else name
    if not os.path.isdir(source) and source.startswith((".", "/", "~")):
        raise SystemExit(f"--bert_prior {name}: no such directory")
    try:
        model, info = BertForMaskedLM.from_pretrained(source, output_loading_info=True)
    except OSError as e:
        raise SystemExit(
            f"could not load the text BERT '{name}' for the BERT language prior ({e}); offline, "
            f"pass a local copy (--bert_prior DIR), --bert_prior {LOCAL_MINILM}, or none"
        ) from e
    fresh = [k for k in info.get("missing_keys", []) if k.startswith("cls.")]
    if fresh:
        log.warning(
            "BERT language prior: %s has no MLM head (%s freshly initialised): its row is not "
            "the paper's (bert-large-uncased has one)",
            name,
            ", ".join(sorted(fresh)),
        )
    return TextBert(model.to(device), tokenizer, batch_size)
