"""`python -m clconv demo`: train a small CNN on scikit-learn's 8x8 digits on the default device.

conv-batchnorm-relu-pool blocks and a linear classifier, Adam, a progress bar per epoch; then one
batch's forward and backward recomputed with clconv.reference (the run fails if they disagree),
and a PNG of the loss/accuracy curves and the learned first-layer filters.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from . import nn, optim
from .runtime import get_device
from .tensors import tensor
from .testing import mismatch


def load_digits_split(seed: int):
    """The 1,797 8x8 digits (bundled with scikit-learn, no download), standardized, split 80/20."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("the demo needs scikit-learn: pip install 'clconv[examples]'")
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    images = ((images - images.mean()) / images.std())[:, None]  # (N, 1, 8, 8)
    order = np.random.default_rng(seed).permutation(len(images))
    cut = int(0.8 * len(images))
    train, test = order[:cut], order[cut:]
    return images[train], digits.target[train], images[test], digits.target[test]


def build_model() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10))


def _progress(epoch, epochs, done, total, loss, accuracy, rate, final):
    width = 24
    filled = int(width * done / total)
    line = (f"\repoch {epoch:>2}/{epochs} [{'#' * filled}{'.' * (width - filled)}] "
            f"{done:>4}/{total} loss {loss:.4f} acc {100 * accuracy:5.1f}% {rate:,.0f} img/s")
    if final or sys.stdout.isatty():
        print(line, end="\n" if final else "", flush=True)


def evaluate(model, images, labels, batch_size=256) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = model(tensor(images[start:start + batch_size])).numpy()
        correct += int((logits.argmax(axis=1) == labels[start:start + batch_size]).sum())
    model.train()
    return correct / len(images)


def train(model, data, epochs, batch_size, lr, seed):
    train_x, train_y, test_x, test_y = data
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    history = {"loss": [], "train_acc": [], "test_acc": []}
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(train_x))
        seen = correct = 0
        loss_sum = 0.0
        start = time.perf_counter()
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            if len(batch) < 2:  # batch norm needs two samples per channel to train
                continue
            optimizer.zero_grad()
            logits = model(tensor(train_x[batch]))
            loss = loss_fn(logits, train_y[batch])
            loss.backward()
            optimizer.step()
            seen += len(batch)
            loss_sum += loss.item() * len(batch)
            correct += int((logits.numpy().argmax(axis=1) == train_y[batch]).sum())
            rate = seen / (time.perf_counter() - start)
            _progress(epoch, epochs, seen, len(order), loss_sum / seen, correct / seen, rate, False)
        history["loss"].append(loss_sum / seen)
        history["train_acc"].append(correct / seen)
        history["test_acc"].append(evaluate(model, test_x, test_y))
        _progress(epoch, epochs, seen, len(order), loss_sum / seen, correct / seen,
                  seen / (time.perf_counter() - start), True)
        print(f"          held-out accuracy {100 * history['test_acc'][-1]:.2f}%")
    return history


def check_against_reference(model, images, labels) -> bool:
    """One batch's loss and every gradient, on the device and through clconv.reference."""
    from . import reference as R
    model.train()
    model.zero_grad()
    loss = nn.CrossEntropyLoss()(model(tensor(images)), labels)
    loss.backward()
    logits = model.reference_forward(images)
    want_loss = R.cross_entropy(logits, labels)
    _, grads = model.reference_backward(R.cross_entropy_backward(np.float32(1), logits, labels), images)
    ok = True
    print("device vs clconv.reference on one batch:")
    pairs = [("loss", loss.numpy(), want_loss)] + [
        (f"d loss / d {name}", p.grad.numpy(), grads[name]) for name, p in model.named_parameters()]
    for what, got, want in pairs:
        problem = mismatch(got, want)
        ok &= problem is None
        print(f"  {what:<26} max abs error {np.max(np.abs(got - want)):.2e}  "
              f"{'ok' if problem is None else 'MISMATCH: ' + problem}")
    return ok


def plot(history, model, path) -> str | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'clconv[examples]'): no plot written")
        return None
    filters = model[0].weight.numpy()[:, 0]
    fig = plt.figure(figsize=(12, 4.5))
    curves = fig.add_axes([0.06, 0.12, 0.36, 0.76])
    epochs = np.arange(1, len(history["loss"]) + 1)
    curves.plot(epochs, history["loss"], "b-", label="training loss")
    curves.set_xlabel("epoch")
    curves.set_ylabel("cross-entropy loss")
    accuracy = curves.twinx()
    accuracy.plot(epochs, history["train_acc"], "g--", label="training accuracy")
    accuracy.plot(epochs, history["test_acc"], "r-", label="held-out accuracy")
    accuracy.set_ylabel("accuracy")
    handles = curves.get_legend_handles_labels()[0] + accuracy.get_legend_handles_labels()[0]
    curves.legend(handles, [h.get_label() for h in handles], loc="center right")
    curves.set_title(f"8x8 digits on {get_device().name}", fontsize=10)
    columns = 8
    rows = -(-len(filters) // columns)
    fig.text(0.76, 0.92, f"learned first-layer filters ({len(filters)} of 3x3)", ha="center")
    for i, kernel in enumerate(filters):
        ax = fig.add_axes([0.55 + 0.052 * (i % columns), 0.7 - 0.2 * (i // columns) - 0.2 * (rows == 1),
                           0.045, 0.16])
        ax.imshow(kernel, cmap="gray", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(args) -> int:
    device = get_device()
    print(f"device: {device.name} ({device.platform_name})")
    nn.manual_seed(args.seed)
    data = load_digits_split(args.seed)
    print(f"digits: {len(data[0])} training and {len(data[2])} held-out 8x8 images")
    model = build_model()
    nn.summary(model, (1, 8, 8))
    start = time.perf_counter()
    history = train(model, data, args.epochs, args.batch_size, args.lr, args.seed)
    seconds = time.perf_counter() - start
    print(f"trained {args.epochs} epochs in {seconds:.1f} s; final held-out accuracy "
          f"{100 * history['test_acc'][-1]:.2f}%")
    ok = check_against_reference(model, data[0][:64], data[1][:64])
    path = plot(history, model, args.plot)
    if path:
        print(f"wrote {path}")
    if not ok:
        print("FAILED: the device disagrees with clconv.reference", file=sys.stderr)
        return 1
    if args.min_accuracy and history["test_acc"][-1] < args.min_accuracy:
        print(f"FAILED: held-out accuracy below {100 * args.min_accuracy:.0f}%", file=sys.stderr)
        return 1
    if args.epochs > 1 and history["loss"][-1] >= history["loss"][0]:
        print("FAILED: the training loss did not fall", file=sys.stderr)
        return 1
    return 0
