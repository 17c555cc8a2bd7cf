"""The embedding model: offline provisioning of multilingual-e5-small and the encoder.

Public API::

    from embeddings import Encoder, prepare_embedding_model, embedding_model_status

Importing this package does not import torch; the model loads on first encode.
"""

from embeddings.encoder import Encoder
from embeddings.provision import (
    DIM,
    MODEL_NAME,
    ModelMissingError,
    ModelVerifyError,
    embedding_model_status,
    prepare_embedding_model,
)

__all__ = [
    "DIM",
    "MODEL_NAME",
    "Encoder",
    "ModelMissingError",
    "ModelVerifyError",
    "embedding_model_status",
    "prepare_embedding_model",
]
