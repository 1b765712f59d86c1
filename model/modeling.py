"""VideoBERT: BERT over the joint text + `[>]` + visual-token vocabulary.

    input_ids (B, T) ─► BertModel (SDPA) ─► hidden (B, T, H) ─► MLM head (tied to the frozen
                                            pooled [CLS] (B, H) ─► alignment head (B, 2)

The MLM head runs only on the masked positions when labels are given (the full-vocabulary
projection is most of the step's cost at 30k-51k ids), and on every position otherwise.
`build_model` (model/init.py) initialises one from a pretrained BERT and the k-means centroids.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForPreTraining, BertModel
from transformers.models.bert.modeling_bert import BertPreTrainedModel, BertPreTrainingHeads
from transformers.utils import ModelOutput

from model.config import VideoBertConfig

IGNORE = -100


@dataclass
class VideoBertOutput(ModelOutput):
    loss: torch.Tensor | None = None  # mlm_loss + alignment_loss (when alignment labels)
    mlm_loss: torch.Tensor | None = None
    mlm_token_losses: torch.Tensor | None = None  # (n_masked,) detached: per-regime logging
    alignment_loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (n_masked, V) with labels, else (B, T, V)
    alignment_logits: torch.Tensor | None = None  # (B, 2), class 1 = text and video aligned


class VideoBertForPreTraining(BertPreTrainedModel):
    config_class = VideoBertConfig
    config: VideoBertConfig
    _tied_weights_keys = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def __init__(self, config: VideoBertConfig):
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = BertPreTrainingHeads(config)  # same names as BERT: its heads load as is
        self.post_init()
        self.freeze_word_embeddings()

    def freeze_word_embeddings(self) -> None:
        if self.config.freeze_word_embeddings:
            self.bert.embeddings.word_embeddings.weight.requires_grad_(False)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        loaded = super().from_pretrained(*args, **kwargs)  # re-creates the parameters
        (loaded[0] if isinstance(loaded, tuple) else loaded).freeze_word_embeddings()
        return loaded

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings):
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        alignment_labels: torch.Tensor | None = None,
        **kwargs,
    ) -> VideoBertOutput:
        out = self.bert(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, **kwargs
        )
        hidden = out.last_hidden_state  # (B, T, H)
        alignment_logits = self.cls.seq_relationship(out.pooler_output)  # (B, 2)
        if labels is None:
            return VideoBertOutput(
                logits=self.cls.predictions(hidden), alignment_logits=alignment_logits
            )
        selected = labels != IGNORE  # (B, T)
        logits = self.cls.predictions(hidden[selected])  # (n_masked, V)
        targets = labels[selected]
        token_losses = F.cross_entropy(logits.float(), targets, reduction="none")
        mlm_loss = token_losses.mean() if len(targets) else logits.sum() * 0.0
        loss, alignment_loss = mlm_loss, None
        if alignment_labels is not None:
            alignment_loss = _mean_cross_entropy(alignment_logits, alignment_labels)
            loss = loss + alignment_loss
        return VideoBertOutput(
            loss, mlm_loss, token_losses.detach(), alignment_loss, logits, alignment_logits
        )


def _mean_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean CE over targets != IGNORE (float32); 0 (still in the graph) when there are none."""
    valid = targets != IGNORE
    if not bool(valid.any()):
        return logits.sum() * 0.0
    if not bool(valid.all()):  # (the MLM rows are all labelled: no copy of (n, V) logits then)
        logits, targets = logits[valid], targets[valid]
    return F.cross_entropy(logits.float(), targets)


AutoConfig.register("videobert", VideoBertConfig, exist_ok=True)
AutoModelForPreTraining.register(VideoBertConfig, VideoBertForPreTraining, exist_ok=True)


def build_model(init: str, centroids_path, **kwargs) -> VideoBertForPreTraining:
    """See model.init.build_model (kept there: loading BERT and the centroids)."""
    from model.init import build_model as build

    return build(init, centroids_path, **kwargs)
