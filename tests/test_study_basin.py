"""The basin study end to end: the quick variants of configs/basin/ with a tiny GPT-NeoX saved to a
folder (PyTorch) and with the zoo transformer trained briefly (JAX); stages resume; bad configs
fail before any work."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from landform.errors import ConfigError
from landform.studies import basin, load_config, run_config_file

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "basin"


def check_table(folder: Path, backend: str) -> pd.DataFrame:
    table = pd.read_parquet(folder / "tables" / "basin.parquet")
    assert (folder / "report.html").is_file() and (folder / "figures" / "exit_radii.png").is_file()
    assert set(table.status) == {"inside"}
    np.testing.assert_allclose(table.centre_kl, 0.0, atol=1e-6)
    assert (table.backend == backend).all()
    assert (table.evaluations_per_ray > 1).all() and (table.evaluation_seconds > 0).all()
    assert np.isfinite(table.mean_log_radius).all() and (table.median_radius > 0).all()
    return table


def save_character_tokenizer(folder: Path) -> None:
    """A Hugging Face tokenizer whose tokens are tiny Shakespeare's characters in code-point order
    (landform's own character ids), saved beside the model."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    from landform.data.sources import fetch

    characters = sorted(set(fetch("shakespeare", "shakespeare.txt").read_text(encoding="utf-8")))
    tokenizer = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(characters)}, merges=[]))
    PreTrainedTokenizerFast(tokenizer_object=tokenizer).save_pretrained(folder)


def test_hugging_face_model_from_a_folder_end_to_end(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPTNeoXConfig(
        vocab_size=65,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    folder = tmp_path / "tiny-neox"
    transformers.GPTNeoXForCausalLM(config).save_pretrained(folder)
    save_character_tokenizer(folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    overrides = [f"model.hf_model={folder}"]  # the config's tokens: tokenizer reads the folder's tokenizer
    path = CONFIGS / "pythia_shakespeare.yaml"
    # a character-level tokenizer gives the dataset's own character windows
    by_tokenizer = basin._sequences(load_config(path, "quick", overrides)[1])[0]
    by_characters = basin._sequences(load_config(path, "quick", [*overrides, "data.tokens=characters"])[1])[0]
    np.testing.assert_array_equal(by_tokenizer, by_characters)
    logs: list[str] = []
    report = run_config_file(
        path, variant="quick", out=tmp_path / "run", overrides=overrides, progress=False, log=logs.append
    )
    table = check_table(report.parent, "torch")
    assert table.parameters.iloc[0] == sum(p.numel() for p in transformers.GPTNeoXForCausalLM(config).parameters())
    logs.clear()
    run_config_file(path, variant="quick", out=tmp_path / "run", overrides=overrides, progress=False, log=logs.append)
    assert not any(line.endswith("running") for line in logs)  # every stage reused
    pd.testing.assert_frame_equal(table, pd.read_parquet(tmp_path / "run" / "tables" / "basin.parquet"))


def test_zoo_transformer_trained_briefly_end_to_end(tmp_path):
    overrides = ["train.epochs=1", "data.train_sequences=64", "data.options.train_windows=64", "sizes=[8, 16]"]
    report = run_config_file(
        CONFIGS / "transformer_shakespeare.yaml",
        variant="quick",
        out=tmp_path,
        overrides=overrides,
        progress=False,
        log=lambda line: None,
    )
    table = check_table(report.parent, "jax")
    assert sorted(table.landscape_sequences) == [8, 16]


def test_bad_configs_fail_before_any_work():
    path = CONFIGS / "pythia_shakespeare.yaml"
    with pytest.raises(ConfigError, match="train section"):
        load_config(path, "quick", ["train={epochs: 1}"])
    with pytest.raises(ConfigError, match="hf_model and download only"):
        load_config(path, "quick", ["model.layers=2"])
    with pytest.raises(ConfigError, match="sizes go up to"):
        load_config(path, "quick", ["sizes=[4, 100]"])
    with pytest.raises(ConfigError, match="needs a Hugging Face model"):
        load_config(CONFIGS / "transformer_shakespeare.yaml", "quick", ["data.tokens=tokenizer"])
