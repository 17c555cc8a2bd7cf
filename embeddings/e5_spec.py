"""What the prepared multilingual-e5-small folder is: its identity, errors and config files.

Pure data shared by the build (:mod:`embeddings.e5_build`), the status check and prepare
(:mod:`embeddings.provision`), the encoder and the ONNX export.
"""

from __future__ import annotations

MODEL_NAME = "multilingual-e5-small"
DIM = 384
MANIFEST = "shanhai-model.json"
CONVERTER_VERSION = 1  # bump when the written folder changes; older folders are rebuilt
MIN_COSINE = 0.999


class ModelMissingError(RuntimeError):
    """The embedding model folder is absent or incomplete."""


class ModelVerifyError(RuntimeError):
    """A source file or the converted model failed verification."""


BERT_CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "vocab_size": 250037,
    "hidden_size": DIM,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "position_embedding_type": "absolute",
    "pad_token_id": 0,
    "tokenizer_class": "XLMRobertaTokenizer",
    # Must stay float32: without it the fp16-stored weights would run in fp16 on CPU.
    "torch_dtype": "float32",
}
TOKENIZER_CONFIG = {
    "tokenizer_class": "XLMRobertaTokenizer",
    "model_max_length": 512,
    "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
    "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
    "clean_up_tokenization_spaces": True,
}
ST_FILES = {
    "modules.json": [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ],
    "sentence_bert_config.json": {"max_seq_length": 512, "do_lower_case": False},
    "1_Pooling/config.json": {
        "word_embedding_dimension": DIM,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    },
    "config_sentence_transformers.json": {
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    },
}
