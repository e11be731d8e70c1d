"""Import format, validation, timing estimates and sentence splitting of calls."""
from workbench.corpus.prepare import PreparedImport, prepare_import
from workbench.corpus.sentences import sentence_id, split_text

__all__ = ["PreparedImport", "prepare_import", "sentence_id", "split_text"]
