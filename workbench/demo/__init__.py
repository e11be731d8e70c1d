"""Synthetic demo corpus: sales calls with ground-truth concept labels, for the quick start."""
from workbench.demo.generator import CONCEPTS, Concept, DemoPaths, generate_demo, sentence_label

__all__ = ["CONCEPTS", "Concept", "DemoPaths", "generate_demo", "sentence_label"]
