"""RGB's published Chinese results, for tables and plots next to ours.

Source: Chen, Lin, Han & Sun, *Benchmarking Large Language Models in Retrieval-Augmented
Generation*, AAAI-24, Tables 1, 3, 5, 7 (Chinese columns), as transcribed in
``../shared/eval/external/README.md``. Measured on the original ``zh.json`` (300 items) with
5 passages at temperature 0.2 — not on the ``zh_refine`` dev split we run, so they are a
reference point, not a like-for-like comparison. Values are percentages.
"""

from __future__ import annotations

__all__ = ["NOISE_RATIOS", "NOISE", "REJECTION", "INTEGRATION", "COUNTERFACTUAL"]

NOISE_RATIOS = (0.0, 0.2, 0.4, 0.6, 0.8)

# Accuracy % at noise ratio 0 / 0.2 / 0.4 / 0.6 / 0.8.
NOISE: dict[str, tuple[float, ...]] = {
    "ChatGPT (gpt-3.5-turbo)": (95.67, 94.67, 91.00, 87.67, 70.67),
    "ChatGLM-6B": (94.33, 90.67, 89.00, 82.33, 69.00),
    "ChatGLM2-6B": (86.67, 82.33, 76.67, 72.33, 54.00),
    "Vicuna-7B-v1.3": (85.67, 82.67, 77.00, 69.33, 49.67),
    "Qwen-7B-Chat": (94.00, 92.33, 88.00, 84.33, 68.67),
    "BELLE-7B-2M": (92.00, 88.67, 85.33, 78.33, 67.68),
}

# Negative rejection %: (Rej = "信息不足" in the output, Rej* = ChatGPT as judge).
REJECTION: dict[str, tuple[float, float]] = {
    "ChatGPT (gpt-3.5-turbo)": (5.33, 43.33),
    "ChatGLM-6B": (6.33, 17.00),
    "ChatGLM2-6B": (6.33, 36.33),
    "Vicuna-7B-v1.3": (3.37, 24.67),
    "Qwen-7B-Chat": (8.67, 25.33),
    "BELLE-7B-2M": (5.33, 13.67),
}

# Information integration accuracy % at noise 0 / 0.2 / 0.4.
INTEGRATION: dict[str, tuple[float, float, float]] = {
    "ChatGPT (gpt-3.5-turbo)": (63, 58, 47),
    "ChatGLM-6B": (60, 53, 52),
    "ChatGLM2-6B": (44, 43, 32),
    "Vicuna-7B-v1.3": (43, 36, 25),
    "Qwen-7B-Chat": (67, 56, 55),
    "BELLE-7B-2M": (49, 41, 38),
}

# Counterfactual robustness %: Acc (no documents), Acc_doc, ED, ED*, CR.
COUNTERFACTUAL: dict[str, dict[str, float]] = {
    "ChatGPT (gpt-3.5-turbo)": {"acc": 91, "acc_doc": 17, "ed": 1, "ed_star": 3, "cr": 33.33},
    "Qwen-7B-Chat": {"acc": 77, "acc_doc": 12, "ed": 5, "ed_star": 4, "cr": 25.00},
}
