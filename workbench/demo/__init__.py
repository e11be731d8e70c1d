"""Synthetic demo corpus: sales calls with ground-truth concept labels, for the quick start."""
from workbench.demo.concepts import CONCEPTS, Concept, sentence_label
from workbench.demo.generator import DemoPaths, generate_demo

__all__ = ["CONCEPTS", "Concept", "DemoPaths", "generate_demo", "sentence_label"]
