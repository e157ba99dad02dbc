#!/usr/bin/python3
"""The Fashion-MNIST demo's network trained by PyTorch, for comparing accuracy and speed.

Same net, data normalisation, initialisation scheme (He uniform, zero biases), optimiser
(Adam, or SGD with momentum 0.9), cosine learning-rate decay, batch and thread count as
examples/fashion_mnist.cpp, with the same defaults. Needs Debian's
python3-torch; run with /usr/bin/python3:

    /usr/bin/python3 benchmarks/pytorch_fashion_mnist.py --epochs 2 --threads 2
"""
import argparse
import gzip
import math
import os
import struct
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("pytorch_fashion_mnist: PyTorch is not installed (sudo apt-get install python3-torch); skipped")
    sys.exit(0)

MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    t = torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8)
    return t.reshape(dims)


def load(data_dir, prefix):
    def path(name):
        p = os.path.join(data_dir, name)
        return p + ".gz" if os.path.exists(p + ".gz") else p
    images = read_idx(path(f"{prefix}-images-idx3-ubyte")).float().div(255).sub(MEAN).div(STD).unsqueeze(1)
    labels = read_idx(path(f"{prefix}-labels-idx1-ubyte")).long()
    return images, labels


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc = nn.Linear(7 * 7 * 64, 10)
        for m in (self.conv1, self.conv2, self.fc):
            fan_in = m.weight[0].numel()
            bound = math.sqrt(6.0 / fan_in)  # He uniform, as convlayer's Init::he_uniform
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    ap.add_argument("--lr", type=float, default=0.0, help="default 0.001 for adam, 0.01 for sgd")
    ap.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x_train, y_train = load(a.data, "train")
    x_test, y_test = load(a.data, "t10k")
    if a.limit:
        x_train, y_train = x_train[:a.limit], y_train[:a.limit]
    net = Net()
    lr = a.lr or (0.001 if a.optimizer == "adam" else 0.01)
    if a.optimizer == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    n = len(x_train)
    print(f"PyTorch {torch.__version__}, {a.threads} threads, batch {a.batch}, {a.optimizer} lr {lr} ({a.schedule}), "
          f"{n} training images")
    total_time = 0.0
    for epoch in range(1, a.epochs + 1):
        net.train()
        order = torch.randperm(n)
        t0 = time.perf_counter()
        loss_sum, steps = 0.0, 0
        for first in range(0, n, a.batch):
            idx = order[first:first + a.batch]
            if a.schedule == "cosine":  # lr * (1 + cos(pi * progress)) / 2 over all steps, as the C++ demo
                progress = (epoch - 1 + first / n) / a.epochs
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * progress))
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            steps += 1
        seconds = time.perf_counter() - t0
        total_time += seconds
        net.eval()
        with torch.no_grad():
            correct = sum((net(x_test[i:i + 500]).argmax(1) == y_test[i:i + 500]).sum().item()
                          for i in range(0, len(x_test), 500))
        print(f"epoch {epoch}: mean training loss {loss_sum / steps:.4f}, test accuracy "
              f"{100 * correct / len(x_test):.2f}%, {n / seconds:.0f} images/s")
    print(f"Training throughput: {a.epochs * n / total_time:.0f} images/s ({a.threads} threads)")


if __name__ == "__main__":
    main()
