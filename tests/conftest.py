"""Every test is offline: the Hugging Face Hub (and anything else off loopback) is never tried."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
