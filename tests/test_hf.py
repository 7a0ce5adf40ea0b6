"""Hugging Face causal language models as behavioural landscapes: a tiny GPT-NeoX built from its
config (no download) gives KL 0 at θ* and the KL of a direct PyTorch computation elsewhere; a
model saved with save_pretrained loads without network, and a Hub name that is not cached fails
at once with a typed error."""

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from landform.errors import ModelUnavailableError, ShapeError  # noqa: E402
from landform.landscape import Chunking  # noqa: E402
from landform.models.hf import causal_lm_landscape, load_causal_lm, load_tokenizer  # noqa: E402
from landform.models.torch import TorchLandscape  # noqa: E402
from landform.volume import exit_radii, random_directions  # noqa: E402


def tiny_neox(seed=0, vocab=23):
    torch.manual_seed(seed)
    config = transformers.GPTNeoXConfig(
        vocab_size=vocab,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
    )
    return transformers.GPTNeoXForCausalLM(config).eval()


def tokens(n=5, length=10, vocab=23, seed=1):
    return np.random.default_rng(seed).integers(0, vocab, (n, length))


def direct_kl(model, state, ids):
    """Per sequence: mean over positions of KL(p_θ* ‖ p_θ), in float64 with plain PyTorch."""
    with torch.no_grad():
        reference = model(input_ids=torch.as_tensor(ids)).logits.double()
        moved = torch.func.functional_call(model, state, (), {"input_ids": torch.as_tensor(ids)}).logits.double()
    log_p, log_q = torch.log_softmax(reference, -1), torch.log_softmax(moved, -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean(-1).numpy()


@pytest.fixture(scope="module")
def neox():
    return tiny_neox()


def test_kl_is_zero_at_the_centre_and_matches_pytorch_elsewhere(neox):
    ids = tokens()
    landscape = causal_lm_landscape(neox, ids)
    assert isinstance(landscape, TorchLandscape) and landscape.caches_reference
    assert landscape.dim == sum(p.numel() for p in neox.parameters())
    assert landscape.layout[0].path.startswith("model.")
    np.testing.assert_allclose(np.asarray(landscape.per_example(landscape.theta)), 0.0, atol=1e-6)
    assert float(landscape.accuracy(landscape.theta)) == 1.0
    rng = np.random.default_rng(2)
    thetas = np.stack([np.asarray(landscape.theta) + 0.05 * rng.standard_normal(landscape.dim) for _ in range(3)])
    thetas = thetas.astype(np.float32)
    expected = np.stack(
        [
            direct_kl(neox, {k.removeprefix("model."): v for k, v in landscape.state_dict(t).items()}, ids)
            for t in thetas
        ]
    )
    assert expected.min() > 1e-4
    got = np.asarray(landscape.per_example_batch(thetas))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(
        np.asarray(landscape.per_example_batch(thetas, chunking=Chunking(2, 2))), expected, rtol=1e-4, atol=1e-7
    )
    # without the cache θ*'s outputs are recomputed per chunk: the same values
    recomputed = causal_lm_landscape(neox, ids, cache=False)
    assert not recomputed.caches_reference
    np.testing.assert_allclose(np.asarray(recomputed.per_example_batch(thetas)), expected, rtol=1e-4, atol=1e-7)
    small = causal_lm_landscape(neox, ids, memory_budget=2 * ids.size * 23 * 4 - 1)
    assert not small.caches_reference  # θ*'s outputs would take more than half the budget


def test_exit_radii_of_the_behavioural_basin(neox):
    landscape = causal_lm_landscape(neox, tokens())
    directions = random_directions(jax.random.key(0), landscape.theta, landscape.layout, unit_axis=landscape.unit_axis)
    result = exit_radii(landscape, directions, 4, [0.01, 0.1], sizes=[2, 5], max_radius=100.0)
    assert (result.status == 0).all()
    assert (result.radii[:, :, 0] < result.radii[:, :, 1]).all()  # a larger cutoff, a larger basin
    np.testing.assert_allclose(result.center_values, 0.0, atol=1e-6)


def test_saved_folder_loads_without_network_and_uncached_names_fail_fast(neox, tmp_path, monkeypatch):
    folder = tmp_path / "tiny-neox"
    neox.save_pretrained(folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = load_causal_lm(folder)
    ids = torch.as_tensor(tokens())
    with torch.no_grad():
        np.testing.assert_allclose(loaded(input_ids=ids).logits.numpy(), neox(input_ids=ids).logits.numpy())
    landscape = causal_lm_landscape(str(folder), tokens())
    assert landscape.dim == sum(p.numel() for p in neox.parameters())
    with pytest.raises(ModelUnavailableError, match="neither a local folder nor in the Hugging Face cache"):
        load_causal_lm("EleutherAI/pythia-70m", cache_dir=tmp_path / "empty-cache")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(ModelUnavailableError, match="download=False"):
        load_causal_lm("EleutherAI/pythia-70m", cache_dir=tmp_path / "empty-cache")
    with pytest.raises(ModelUnavailableError, match="no tokenizer .* in its folder"):
        load_tokenizer(folder)  # the model was saved without one
    with pytest.raises(ModelUnavailableError, match="no tokenizer .* in the Hugging Face cache"):
        load_tokenizer("EleutherAI/pythia-70m-not-cached")
    with pytest.raises(ModelUnavailableError, match="no config.json"):
        load_causal_lm(tmp_path)
    with pytest.raises(ModelUnavailableError, match="no model folder"):
        load_causal_lm(tmp_path / "missing")
    with pytest.raises(ShapeError, match="vocabulary"):
        causal_lm_landscape(neox, tokens(vocab=40))
