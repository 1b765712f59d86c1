"""VideoBertConfig: a BertConfig over the joint vocabulary.

Ids, in order: the WordPiece text vocab [0, text_vocab_size), the `[>]` text→video separator
(`video_sep_id` = text_vocab_size), then one id per leaf of the hierarchical k-means tree
(`visual_id(t)` = text_vocab_size + 1 + t for a leaf t in [0, k**depth)).
"""

from huggingface_hub.dataclasses import strict
from transformers import BertConfig


@strict
class VideoBertConfig(BertConfig):
    model_type = "videobert"

    text_vocab_size: int = 30522
    """WordPiece entries (bert-base/large-uncased: 30,522)."""
    num_visual_tokens: int = 20736
    """k**depth leaf tokens (the paper: 12**4)."""
    visual_k: int = 12
    visual_depth: int = 4
    centroid_dim: int = 1024
    """Dimension of the k-means centroids (S3D features)."""
    cls_token_id: int = 101
    sep_token_id: int = 102
    mask_token_id: int = 103
    text_init: str = ""
    """The text checkpoint the model was initialised from (`--init`: a Hub name, a directory,
    minilm-local, random); the evaluation's "BERT language prior" asks that checkpoint."""
    freeze_word_embeddings: bool = True
    """Input embeddings (text, `[>]`, visual) stay fixed, as in the paper; the tied MLM decoder
    shares them (its bias trains)."""

    def __post_init__(self, **kwargs):
        self.vocab_size = self.text_vocab_size + 1 + self.num_visual_tokens
        super().__post_init__(**kwargs)

    @property
    def video_sep_id(self) -> int:
        """The `[>]` token between a sentence and its video tokens."""
        return self.text_vocab_size

    @property
    def first_visual_id(self) -> int:
        return self.text_vocab_size + 1

    def visual_id(self, t):
        """Joint-vocabulary id of leaf token(s) t (int, numpy or torch array)."""
        return t + self.first_visual_id

    def is_visual(self, ids):
        """True where ids are visual tokens (numpy/torch arrays elementwise, or an int)."""
        return ids >= self.first_visual_id

    def special_ids(self) -> list[int]:
        """Ids never masked: [PAD], [CLS], [SEP], [>]."""
        return [self.pad_token_id, self.cls_token_id, self.sep_token_id, self.video_sep_id]
