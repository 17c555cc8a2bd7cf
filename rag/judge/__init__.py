"""Evidence judge: a small learned Chinese answerability cross-encoder.

Does this sentence window (a sentence and its neighbours) answer this question? A 6-layer
cross-encoder fine-tuned from multilingual-e5-small (mean-pooled head) scores every window of
the candidate passages in one batch (:class:`rag.judge.model.EvidenceJudge`), for reranking,
refusing without the LLM, choosing evidence and checking claims after generation.

Modules: ``windows`` (scoring units), ``data``/``counterfactual``/``pairs`` (training pairs),
``encode``/``network``/``engines`` (tokeniser, network, torch/ONNX inference), ``train``
(``python -m rag.judge.train``), ``weights``/``save``/``provision`` (shipped weights and the
folder ``shanhai models prepare`` assembles), ``evalsets``/``calibrate`` (curves, threshold).
"""
