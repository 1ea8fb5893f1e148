"""Export: merge a LoRA adapter into its model; sharded safetensors, GGUF and an Ollama Modelfile."""
from tooltune.export.merge import ExportConfig, ExportReport, export_model

__all__ = ["ExportConfig", "ExportReport", "export_model"]
