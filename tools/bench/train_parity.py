#!/usr/bin/env python3
"""Accuracy parity of `retrograd train` with PyTorch on the same CSV, network and schedule.

Writes a seeded 3-class, 4-feature data set (train.csv, test.csv; one feature unscaled, so
standardisation matters), trains a 4-64-3 ReLU MLP with SGD lr 0.01, momentum 0.9, batch 32,
30 epochs on standardised features, five seeds each, with `retrograd train` and with PyTorch,
and prints both test accuracies and their medians.

usage: train_parity.py RETROGRAD_BINARY [WORKDIR]   (run with Debian's /usr/bin/python3,
       which has python3-torch and python3-numpy)
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np
import torch

SEEDS = [1, 2, 3, 4, 5]
EPOCHS, BATCH, LR, MOMENTUM, HIDDEN = 30, 32, 0.01, 0.9, 64


def write_data(workdir):
    rng = np.random.default_rng(42)
    centers = np.array([[0, 0, 1, -1], [1.5, 0.5, 0, 0], [0.5, 1.5, -1, 1]]) * 1.2
    for name, n in (("train.csv", 2000), ("test.csv", 1000)):
        y = rng.integers(0, 3, n)
        x = centers[y] + rng.normal(0, 1.0, (n, 4))
        x[:, 2] = x[:, 2] * 5 + 3
        x[:, 3] = np.sin(x[:, 0] * 2) + x[:, 3]
        with open(os.path.join(workdir, name), "w") as f:
            f.write("f1,f2,f3,f4,label\n")
            for r, label in zip(x, y):
                f.write(",".join("%.6f" % v for v in r) + ",%d\n" % label)


def torch_run(workdir, seed):
    torch.manual_seed(seed)
    tr = np.loadtxt(os.path.join(workdir, "train.csv"), delimiter=",", skiprows=1)
    te = np.loadtxt(os.path.join(workdir, "test.csv"), delimiter=",", skiprows=1)
    mu, sd = tr[:, :4].mean(0), tr[:, :4].std(0)
    xtr = torch.tensor((tr[:, :4] - mu) / sd, dtype=torch.float32)
    xte = torch.tensor((te[:, :4] - mu) / sd, dtype=torch.float32)
    ytr, yte = torch.tensor(tr[:, 4].astype(int)), torch.tensor(te[:, 4].astype(int))
    model = torch.nn.Sequential(torch.nn.Linear(4, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, 3))
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    for _ in range(EPOCHS):
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), BATCH):
            idx = perm[i:i + BATCH]
            loss = torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return float((model(xte).argmax(1) == yte).float().mean())


def retrograd_run(binary, workdir, seed):
    out = subprocess.run(
        [binary, "train", "--data", os.path.join(workdir, "train.csv"),
         "--test-data", os.path.join(workdir, "test.csv"), "--standardize",
         "--hidden", str(HIDDEN), "--opt", "sgd", "--lr", str(LR), "--momentum", str(MOMENTUM),
         "--batch", str(BATCH), "--epochs", str(EPOCHS), "--seed", str(seed), "--json",
         "--quiet"], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["test_accuracy"]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    workdir = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp()
    write_data(workdir)
    rg = [retrograd_run(sys.argv[1], workdir, s) for s in SEEDS]
    pt = [torch_run(workdir, s) for s in SEEDS]
    print("seed  retrograd  pytorch")
    for s, a, b in zip(SEEDS, rg, pt):
        print("%4d  %9.4f  %7.4f" % (s, a, b))
    print("median %7.4f  %7.4f" % (statistics.median(rg), statistics.median(pt)))


if __name__ == "__main__":
    main()
