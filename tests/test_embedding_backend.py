"""The embedding backend a workspace records (workbench.embedding.backend): ONNX Runtime for a new
workspace where it is installed, what made the embeddings for an old one, and a clear refusal of
any other choice, so one workspace never holds two backends' vectors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import tiny_corpus
from workbench.core.errors import ValidationError
from workbench.core.settings import ENV_EMBEDDING_BACKEND
from workbench.embedding.backend import SETTING_FILE, BackendMismatch, same_vectors
from workbench.embedding.cache import EmbeddingCache
from workbench.embedding.embedder import Embedder
from workbench.embedding.onnx_encoder import onnx_missing
from workbench.workspace import Workspace

needs_onnx = pytest.mark.skipif(onnx_missing() is not None, reason=f"onnx backend: {onnx_missing()}")


@pytest.fixture(autouse=True)
def _no_backend_setting(monkeypatch):
    monkeypatch.delenv(ENV_EMBEDDING_BACKEND, raising=False)


def recorded(ws_path) -> str:
    return json.loads((ws_path / "data" / "embeddings" / SETTING_FILE).read_text())["embedding_backend"]


@needs_onnx
def test_a_new_workspace_records_onnx(tmp_path):
    ws = Workspace(tmp_path / "new")
    assert ws.embedding_backend == "onnx" == recorded(ws.path)
    assert ws.embedder.backend == "onnx" and "-onnx-" in ws.embedder.model_id
    assert ws.embedder._model is None  # choosing loads nothing
    assert Workspace(ws.path).embedding_backend == "onnx"


def test_without_onnx_runtime_a_new_workspace_says_so_and_records_torch(tmp_path, monkeypatch):
    from workbench.embedding import onnx_encoder

    monkeypatch.setattr(onnx_encoder, "onnx_missing", lambda: "onnxruntime not installed: pip install x")
    with pytest.warns(UserWarning, match="embeds with torch: ONNX Runtime.*not available"):
        ws = Workspace(tmp_path / "new")
    assert ws.embedding_backend == "torch" == recorded(ws.path)
    monkeypatch.undo()
    assert Workspace(ws.path).embedding_backend == "torch"  # kept once ONNX Runtime is installed


def _cache_of(ws_path, backend: str) -> None:
    """An embedding cache as an older workbench left it: a folder per model id, no record."""
    model_id = Embedder(backend=backend).model_id
    EmbeddingCache(ws_path / "data" / "embeddings", model_id).add(["hello"], np.full((1, 384), 0.05, np.float32))


def test_an_old_workspace_without_a_record_keeps_the_backend_that_embedded_it(tmp_path):
    _cache_of(tmp_path / "old", "torch")
    ws = Workspace(tmp_path / "old")
    assert ws.embedding_backend == "torch" == recorded(ws.path)
    assert ws.embedded_count() == 0 and ws.embedder.model_id == Embedder(backend="torch").model_id

    _cache_of(tmp_path / "opted-in", "onnx")  # embedded under $WORKBENCH_EMBEDDING_BACKEND=onnx before
    assert Workspace(tmp_path / "opted-in").embedding_backend == "onnx"

    _cache_of(tmp_path / "older", "torch")
    with pytest.raises(BackendMismatch, match="were made with torch"):
        Workspace(tmp_path / "older", model=Embedder(backend="onnx"))
    assert not (tmp_path / "older" / "data" / "embeddings" / SETTING_FILE).exists()  # refused: nothing recorded


def test_a_choice_other_than_the_record_is_refused_and_names_the_way_to_switch(tmp_path, monkeypatch, embedder):
    # An explicit choice decides for a new workspace, and is recorded.
    monkeypatch.setenv(ENV_EMBEDDING_BACKEND, "torch")
    path = Workspace(tmp_path / "ws").path
    assert recorded(path) == "torch"
    assert Workspace(path, model=embedder).embedder is embedder  # the same choice is welcome

    monkeypatch.setenv(ENV_EMBEDDING_BACKEND, "onnx")
    with pytest.raises(BackendMismatch) as refused:
        Workspace(path)
    message = str(refused.value)
    assert ENV_EMBEDDING_BACKEND in message and str(path / "data" / "embeddings" / SETTING_FILE) in message
    assert f"workbench --workspace {path} embedding-backend onnx" in message
    monkeypatch.delenv(ENV_EMBEDDING_BACKEND)
    with pytest.raises(BackendMismatch, match="the embedder passed as model="):
        Workspace(path, model=Embedder(backend="onnx"))
    assert recorded(path) == "torch"

    monkeypatch.setenv(ENV_EMBEDDING_BACKEND, "tensorrt")
    with pytest.raises(ValidationError, match="unknown embedding backend 'tensorrt'"):
        Workspace(tmp_path / "other")


def test_torch_and_onnx_fp32_vectors_of_the_same_weights_stand_for_each_other(tmp_path, embedder):
    from workbench.activation.bundles import check_importable

    torch_id, onnx_id = embedder.model_id, Embedder(backend="onnx").model_id
    assert same_vectors(torch_id, onnx_id) and same_vectors(onnx_id, torch_id)
    assert same_vectors(f"{torch_id}+speech-1", f"{onnx_id}+speech-1")
    assert not same_vectors(f"{torch_id}+speech-1", onnx_id)  # another text normalisation
    assert not same_vectors(torch_id.replace("-fp32-", "-int8-"), onnx_id)  # int8 vectors differ
    assert not same_vectors(torch_id, onnx_id[:-8] + "00000000")  # other weights
    # So a bundle trained on torch vectors (the shipped ones) imports into an ONNX Runtime workspace.
    ws = Workspace(tmp_path / "ws", model=Embedder(backend="onnx"))
    check_importable(ws._live, {"embedding_model": torch_id}, "Asking for a discount")
    with pytest.raises(ValidationError, match="embedding_model"):
        check_importable(ws._live, {"embedding_model": torch_id.replace("-fp32-", "-int8-")}, "x")


@needs_onnx
def test_a_reopened_workspace_embeds_the_same_vectors_and_a_switch_embeds_again(tmp_path, embedder, capsys):
    from workbench.cli.app import main

    calls, utts = tiny_corpus(3)
    ws = Workspace(tmp_path / "ws")
    ws.import_calls(calls, utts, embed=False)
    texts = ws.sentences["text"].to_list()
    assert ws.embed(progress=False) == len(set(texts))
    first = ws.embeddings()
    again = Workspace(ws.path)
    assert again.embedder.model_id == ws.embedder.model_id and again.embed(progress=False) == 0
    assert np.array_equal(again.embeddings(), first)
    onnx = Embedder(backend="onnx").encode(texts).astype(np.float16).astype(np.float32)
    assert np.array_equal(first, onnx)
    assert "embeds with  ONNX Runtime" in str(again.info())

    # Switching embeds again what was embedded, into the other backend's cache, and records it.
    assert main(["--workspace", str(ws.path), "embedding-backend", "torch", "-q"]) == 0
    assert f"now embeds with torch (model {embedder.model_id}); embedded {len(set(texts))}" in capsys.readouterr().out
    switched = Workspace(ws.path, model=embedder)
    assert switched.embedding_backend == "torch" == recorded(ws.path)
    assert switched.embedded_count() == len(texts) and "embeds with  torch" in str(switched.info())
    vectors = switched.embeddings()
    assert np.array_equal(vectors, embedder.encode(texts).astype(np.float16).astype(np.float32))
    assert (vectors * first).sum(1).min() > 0.999
