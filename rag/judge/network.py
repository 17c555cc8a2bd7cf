"""The judge network: BERT (e5-small layers) with a mean-pooled one-logit head.

e5-small was trained with mean pooling, so its ``<s>`` (CLS) state carries little; pooling the
mean of all token states of the (question, window) pair learns much faster on few steps than
BERT's CLS pooler. The head reuses ``BertForSequenceClassification``'s parameter names
(``bert.pooler.dense`` -> tanh -> ``classifier``), so state dicts and configs stay standard.
"""

from __future__ import annotations

import torch
from transformers import BertForSequenceClassification
from transformers.modeling_outputs import SequenceClassifierOutput


class MeanPoolJudge(BertForSequenceClassification):
    """``BertForSequenceClassification`` whose pooler reads the masked mean of the last layer."""

    def forward(self, input_ids=None, attention_mask=None, **_ignored) -> SequenceClassifierOutput:  # noqa: D102
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        pooled = torch.tanh(self.bert.pooler.dense(mean))
        return SequenceClassifierOutput(logits=self.classifier(self.dropout(pooled)))
