"""Workspace: one folder holding imported calls, sentences, embeddings, trackers and MLflow runs."""
from __future__ import annotations


class Workspace:  # filled in by the foundation work
    pass
