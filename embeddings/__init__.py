"""The embedding model: offline provisioning of multilingual-e5-small and the encoder.

Public API::

    from embeddings import Encoder, prepare_embedding_model, embedding_model_status
    from embeddings import prepare_onnx_model, onnx_model_status

Importing this package does not import torch (nor onnxruntime); the model loads on first
encode, and the ONNX backends never import torch.
"""

from embeddings.encoder import BACKENDS, Encoder
from embeddings.onnx_export import onnx_model_status, prepare_onnx_model
from embeddings.e5_spec import DIM, MODEL_NAME, ModelMissingError, ModelVerifyError
from embeddings.provision import embedding_model_status, prepare_embedding_model

__all__ = [
    "BACKENDS",
    "DIM",
    "MODEL_NAME",
    "Encoder",
    "ModelMissingError",
    "ModelVerifyError",
    "embedding_model_status",
    "onnx_model_status",
    "prepare_onnx_model",
    "prepare_embedding_model",
]
