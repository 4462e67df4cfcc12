"""clconv.nn modules, clconv.optim optimizers, summary() and the training demo."""
import numpy as np
import pytest

import clconv
import clconv.nn as nn
import clconv.optim as optim
from clconv.testing import assert_close
from helpers import randn


def test_summary_matches_the_lecture_example(device):
    # 10 filters of 3x5x5 with bias on 3x32x32, stride 1, pad 2: 10x32x32, 760 parameters,
    # 10*32*32*75 = 768k multiply-adds.
    rows = nn.summary(nn.Sequential(nn.Conv2d(3, 10, 5, stride=1, padding=2)), (3, 32, 32),
                      print_fn=lambda line: None)
    assert rows[0].output_shape == (10, 32, 32)
    assert rows[0].parameters == 760
    assert rows[0].multiply_adds == 768_000
    assert rows[0].receptive_field == "5x5"


def test_summary_receptive_field_grows_by_k_minus_one_per_layer(device):
    # With L stride-1 3x3 convolutions the receptive field is 1 + L*(K-1).
    model = nn.Sequential(*[nn.Conv2d(2, 2, 3, padding=1) for _ in range(3)],
                          nn.MaxPool2d(2), nn.Conv2d(2, 2, 3, padding=1), nn.Flatten(),
                          nn.Linear(2 * 8 * 8, 3))
    rows = nn.summary(model, (2, 16, 16), print_fn=lambda line: None)
    assert [r.receptive_field for r in rows] == ["3x3", "5x5", "7x7", "8x8", "12x12",
                                                  "whole input", "whole input"]
    assert rows[-1].multiply_adds == 128 * 3 and rows[-1].parameters == 128 * 3 + 3


def test_modules_match_their_reference_forward_and_backward(device, rng):
    nn.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.LeakyReLU(0.1),
                          nn.AvgPool2d(2), nn.Conv2d(6, 6, 3, groups=3), nn.GroupNorm(3, 6),
                          nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                          nn.LayerNorm(24), nn.Linear(24, 5))
    x = randn(rng, (4, 2, 10, 10), np.float32)
    out = model(x)
    grad = randn(rng, out.shape, np.float32)
    out.backward(grad)
    assert_close(out.numpy(), model.reference_forward(x), what="forward")
    _, grads = model.reference_backward(grad, x)
    for name, p in model.named_parameters():
        assert_close(p.grad.numpy(), grads[name], what=f"gradient of {name}")


def test_default_initialization_is_kaimings_uniform_bound(device):
    nn.manual_seed(0)
    conv = nn.Conv2d(4, 8, 3)
    bound = 1 / np.sqrt(4 * 9)
    weights = conv.weight.numpy()
    assert np.abs(weights).max() <= bound and np.abs(weights).max() > 0.9 * bound
    assert np.abs(conv.bias.numpy()).max() <= bound


def test_train_eval_and_running_statistics(device, rng):
    bn = nn.BatchNorm2d(3)
    x = randn(rng, (4, 3, 5, 5), np.float32) * 2 + 1
    bn(x)
    assert bn.num_batches_tracked == 1
    assert np.allclose(bn.running_mean.numpy(), 0.1 * x.mean(axis=(0, 2, 3)), atol=1e-5)
    bn.eval()
    y = bn(x).numpy()
    rm, rv = bn.running_mean.numpy(), bn.running_var.numpy()
    expected = (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5)
    assert_close(y, expected)
    assert not bn.training


def test_state_dict_round_trip_through_npz(device, tmp_path, rng):
    nn.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(36, 2))
    model(randn(rng, (2, 1, 5, 5), np.float32))
    state = model.state_dict()
    assert set(state) == {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                          "1.running_var", "3.weight", "3.bias"}
    model.save(tmp_path / "model.npz")
    nn.manual_seed(2)
    other = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(36, 2))
    other.load(tmp_path / "model.npz")
    for name, values in other.state_dict().items():
        np.testing.assert_array_equal(values, state[name])
    with pytest.raises(KeyError, match="missing keys"):
        other.load_state_dict({"0.weight": state["0.weight"]})
    with pytest.raises(ValueError, match=r"0.weight has shape \(1,\)"):
        other.load_state_dict({**state, "0.weight": np.zeros(1)})


@pytest.mark.parametrize("options", [dict(lr=0.1), dict(lr=0.05, momentum=0.9),
                                     dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
                                     dict(lr=0.02, momentum=0.5, dampening=0.3)], ids=str)
def test_sgd_matches_its_formula(device, rng, options):
    p0 = randn(rng, (5, 3), np.float64 if np.float64 in device.dtypes() else np.float32)
    p = clconv.tensor(p0, requires_grad=True)
    opt = optim.SGD([p], **options)
    expected, buf = p0.copy(), None
    for _ in range(3):
        g = randn(rng, p0.shape, p0.dtype)
        p.grad = clconv.tensor(g)
        opt.step()
        expected, buf = clconv.reference.sgd_step(expected, g, buf, **options)
    assert_close(p.numpy(), expected, what="SGD parameters")


@pytest.mark.parametrize("options", [dict(), dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)], ids=str)
def test_adam_matches_its_formula(device, rng, options):
    p0 = randn(rng, (4, 6), np.float64 if np.float64 in device.dtypes() else np.float32)
    p = clconv.tensor(p0, requires_grad=True)
    opt = optim.Adam([p], **options)
    expected, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t in range(1, 4):
        g = randn(rng, p0.shape, p0.dtype)
        p.grad = clconv.tensor(g)
        opt.step()
        expected, m, v = clconv.reference.adam_step(expected, g, m, v, t, **options)
    assert_close(p.numpy(), expected, what="Adam parameters")


def test_optimizers_match_pytorch(device, rng):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: optimizers not cross-checked")
    p0 = randn(rng, (3, 4), np.float64 if np.float64 in device.dtypes() else np.float32)
    grads = [randn(rng, p0.shape, p0.dtype) for _ in range(3)]
    for ours, theirs in [(optim.SGD, torch.optim.SGD), (optim.Adam, torch.optim.Adam)]:
        kwargs = dict(lr=0.05, weight_decay=0.01) | (dict(momentum=0.9, nesterov=True) if ours is optim.SGD else {})
        p = clconv.tensor(p0, requires_grad=True)
        tp = torch.tensor(p0.copy(), requires_grad=True)
        opt, topt = ours([p], **kwargs), theirs([tp], **kwargs)
        for g in grads:
            p.grad, tp.grad = clconv.tensor(g), torch.tensor(g)
            opt.step()
            topt.step()
        assert_close(p.numpy(), tp.detach().numpy(), what=ours.__name__)


def test_optimizer_step_invalidates_old_graphs(device, rng):
    w = clconv.tensor(randn(rng, (3, 4), np.float32), requires_grad=True)
    out = clconv.functional.linear(randn(rng, (2, 4), np.float32), w)
    w.grad = clconv.tensor(np.ones((3, 4), np.float32))
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        out.backward(np.ones((2, 3), np.float32))


def test_bad_optimizer_arguments(device, rng):
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="leaf Tensors that require grad"):
        optim.SGD([clconv.tensor(np.ones(2, np.float32))], lr=0.1)
    with pytest.raises(ValueError, match="lr must be a non-negative number"):
        optim.Adam([clconv.tensor(np.ones(2, np.float32), requires_grad=True)], lr=-1)


@pytest.mark.heavy
def test_training_demo_learns(device, tmp_path, monkeypatch):
    pytest.importorskip("sklearn", reason="scikit-learn (the examples extra) not installed")
    from types import SimpleNamespace

    from clconv import train_demo
    monkeypatch.chdir(tmp_path)
    args = SimpleNamespace(seed=0, epochs=2, batch_size=32, lr=0.01, min_accuracy=0.9,
                           plot=str(tmp_path / "digits.png"))
    # main() fails when the loss does not fall, accuracy is low or the reference disagrees.
    assert train_demo.main(args) == 0


@pytest.mark.heavy
def test_the_readme_training_example_runs_and_learns(device, capsys):
    pytest.importorskip("sklearn", reason="scikit-learn (the examples extra) not installed")
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    code = readme.split("## Training in 15 lines")[1].split("```python")[1].split("```")[0]
    assert len([line for line in code.splitlines() if line.strip()]) <= 16  # "in ~15 lines"
    exec(compile(code, "README.md", "exec"), {})
    accuracy = float(capsys.readouterr().out.split("accuracy")[1])
    assert accuracy > 0.85


@pytest.mark.parametrize("layer", [nn.Sigmoid(), nn.Tanh(), nn.SiLU(), nn.Hardsigmoid(),
                                   nn.Hardswish(), nn.ReLU6(inplace=True),
                                   nn.Hardtanh(-0.5, 2.0), nn.ELU(alpha=0.7), nn.GELU(),
                                   nn.GELU("tanh"), nn.Softmax(dim=1), nn.LogSoftmax(dim=-1)],
                         ids=repr)
def test_activation_layers_match_their_reference(device, rng, layer):
    x = (rng.standard_normal((3, 4, 5, 6)) * 4).astype(np.float32)
    leaf = clconv.tensor(x, requires_grad=True)
    y = layer(leaf)
    assert_close(y.numpy(), layer.reference_forward(x), what=f"{layer!r} forward")
    grad = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(grad)
    want, _ = layer.reference_backward(grad, x)
    assert_close(leaf.grad.numpy(), want, what=f"{layer!r} backward")
    # In place where nothing needs the input's gradient (inplace=True layers), else a new tensor.
    plain = clconv.tensor(x)
    out = layer(plain)
    assert (out is plain) == getattr(layer, "inplace", False)


@pytest.mark.parametrize("layer", [nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1),
                                   nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, groups=2),
                                   nn.ConvTranspose3d(4, 2, 2, stride=2, bias=False)], ids=repr)
def test_transposed_convolution_layers_match_their_reference(device, rng, layer):
    x = rng.standard_normal((2, 4) + (5,) * layer.nd).astype(np.float32)
    leaf = clconv.tensor(x, requires_grad=True)
    y = layer(leaf)
    assert_close(y.numpy(), layer.reference_forward(x), what=f"{layer!r} forward")
    grad = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(grad)
    dx, dparams = layer.reference_backward(grad, x)
    assert_close(leaf.grad.numpy(), dx, what=f"{layer!r} input gradient")
    assert_close(layer.weight.grad.numpy(), dparams["weight"], what=f"{layer!r} weight gradient")
