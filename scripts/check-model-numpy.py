#!/usr/bin/env python3
"""Proves that a Voiceprint model file is a plain safetensors file and that an
independent numpy implementation of the network gives the same embedding.

    python3 -m venv .venv-check && .venv-check/bin/pip install numpy safetensors
    .venv-check/bin/python scripts/check-model-numpy.py MODEL.safetensors [VOICEPRINT_BINARY]

It loads the tensors with `safetensors.numpy`, reads the architecture from the
metadata, embeds a fixed random [300, F] input (seed 0) in float64 numpy, runs
`voiceprint embed --features` on the same input, and reports the largest
absolute difference (the check passes below 1e-4).
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def conv1d(x, weight, bias, kernel, dilation):
    # x [T, Cin]; weight [Cout, k*Cin] with tap j at columns j*Cin:(j+1)*Cin.
    t_out = x.shape[0] - dilation * (kernel - 1)
    cols = np.concatenate([x[j * dilation: j * dilation + t_out] for j in range(kernel)], axis=1)
    return cols @ weight.T + bias


def batch_norm(x, p, prefix, eps=1e-5):
    return (x - p[prefix + ".running_mean"]) / np.sqrt(p[prefix + ".running_var"] + eps) * p[prefix + ".weight"] + p[prefix + ".bias"]


def embed(p, arch, features):
    x = features.astype(np.float64)
    for i, layer in enumerate(arch["frameLayers"]):
        x = conv1d(x, p[f"frame.{i}.conv.weight"], p[f"frame.{i}.conv.bias"], layer["kernel"], layer["dilation"])
        x = np.maximum(x, 0)
        x = batch_norm(x, p, f"frame.{i}.bn")
    pooled = np.concatenate([x.mean(axis=0), np.sqrt(x.var(axis=0) + 1e-5)])
    e = pooled @ p["embedding.linear.weight"].T + p["embedding.linear.bias"]
    e = batch_norm(e, p, "embedding.bn")
    return e / np.linalg.norm(e)


def main(model, binary):
    with safe_open(model, framework="numpy") as f:
        meta = f.metadata()
    assert meta["format"] == "voiceprint-embedding", meta.get("format")
    arch = json.loads(meta["architecture"])
    params = {k: v.astype(np.float64) for k, v in load_file(model).items()}
    rng = np.random.default_rng(0)
    features = rng.standard_normal((300, arch["inputDimension"])).astype(np.float32)
    ours = embed(params, arch, features)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "features.npy")
        np.save(path, features)
        out = subprocess.run([binary, "embed", "--model", model, "--features", path],
                             check=True, capture_output=True, text=True).stdout
    swift = np.array(json.loads(out.splitlines()[0])["embedding"])
    diff = np.abs(swift - ours).max()
    print(f"{model}: {len(params)} tensors, embedding dim {len(ours)}; "
          f"max |swift - numpy| = {diff:.2e}; cosine = {float(swift @ ours):.8f}")
    sys.exit(0 if diff < 1e-4 else 1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ".build/release/voiceprint")
