"""The model layer: the catalog (``catalog``), the factory built from settings (``factory``), the
offline extractive model (``extractive``), the paced test model (``testing``), answer metrics
(``metrics``) and speech to text (``speech``). It imports nothing from ``graphs`` or ``api``."""

from nodes.models.catalog import ModelCatalog, ModelSpec, UnknownModelError
from nodes.models.factory import ChatModelFactory, ModelRegistry, ModelUnavailableError

__all__ = ["ChatModelFactory", "ModelCatalog", "ModelRegistry", "ModelSpec", "ModelUnavailableError", "UnknownModelError"]
