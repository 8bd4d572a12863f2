#!/usr/bin/env python3
"""Error rates of Resemblyzer itself on a VoxCeleb-format trial list: the
numbers Voiceprint's import of the same network should reproduce.

    VENV/bin/python scripts/resemblyzer-score.py --trials T --root R \\
        [--embeddings-cache FILE.npz] [--no-trim]

Each trial line is `LABEL PATH_A PATH_B` (1 = same speaker), paths relative
to --root. Every distinct file is embedded once, the way people use
Resemblyzer: preprocess_wav (librosa.load, resample to 16 kHz, volume to
-30 dBFS increasing only, trim_long_silences) then embed_utterance.
--no-trim leaves out trim_long_silences (the parity mode of
scripts/resemblyzer-embed.py). Scores are cosine similarities:

  raw              the embeddings as they come (unit vectors)
  mean-subtracted  the mean embedding of all distinct files in the list
                   (labels unused) subtracted, renormalised, then cosine

Metrics are those of Sources/VoiceprintScoring/VerificationMetrics.swift:
EER interpolated linearly at the crossing of FAR and FRR, minDCF at
p_target 0.01 and 0.05 with C_miss = C_fa = 1, normalised by
min(p, 1 - p), a trial accepted when its score is >= the threshold. Prints
one JSON object with the key names of `voiceprint evaluate --json`.

--embeddings-cache FILE keeps embeddings in an .npz keyed by absolute path,
file size and modification time, and by preprocessing mode, so a second run
(or the other trial list over the same files) only scores.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

import resemblyzer_support as support


def read_trials(path):
    labels, firsts, seconds = [], [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 3 or fields[0] not in ("0", "1"):
                sys.exit(f"{sys.argv[0]}: {path}:{number}: expected 'LABEL PATH_A PATH_B' with LABEL 0 or 1, "
                         f"got {line.strip()!r}")
            labels.append(fields[0] == "1")
            firsts.append(fields[1])
            seconds.append(fields[2])
    if not labels:
        sys.exit(f"{sys.argv[0]}: {path}: no trials")
    return np.array(labels), firsts, seconds


# --- metrics: the same definitions as VerificationMetrics.swift -------------

def error_curve(target, impostor):
    """(thresholds, FAR, FRR) from the highest score down; the first point
    accepts nothing (threshold +inf), equal scores move together."""
    scores = np.concatenate([target, impostor]).astype(np.float32)
    is_target = np.concatenate([np.ones(len(target), bool), np.zeros(len(impostor), bool)])
    order = np.argsort(-scores, kind="stable")
    scores, is_target = scores[order], is_target[order]
    accepted_targets = np.cumsum(is_target)
    accepted_impostors = np.cumsum(~is_target)
    # Keep only the last index of each run of equal scores.
    last = np.append(scores[1:] != scores[:-1], True)
    thresholds = np.concatenate([[np.inf], scores[last]])
    far = np.concatenate([[0.0], accepted_impostors[last] / len(impostor)])
    frr = np.concatenate([[1.0], 1 - accepted_targets[last] / len(target)])
    return thresholds, far, frr


def equal_error_rate(thresholds, far, frr):
    crossed = np.nonzero(far >= frr)[0]
    k = crossed[0] if len(crossed) else None
    if k is None or k == 0:
        return 0.0, float(thresholds[-1])
    before = frr[k - 1] - far[k - 1]
    after = far[k] - frr[k]
    t = before / (before + after) if before + after > 0 else 0.0
    rate = far[k - 1] + t * (far[k] - far[k - 1])
    a, b = thresholds[k - 1], thresholds[k]
    threshold = a + t * (b - a) if np.isfinite(a) else b
    return float(rate), float(threshold)


def min_dcf(thresholds, far, frr, p_target, c_miss=1.0, c_fa=1.0):
    cost = (c_miss * frr * p_target + c_fa * far * (1 - p_target)) / min(c_miss * p_target, c_fa * (1 - p_target))
    best = int(np.argmin(cost))  # first minimum, as the Swift loop keeps the first strictly lower cost
    return float(cost[best]), float(thresholds[best])


def metrics(scores, labels):
    thresholds, far, frr = error_curve(scores[labels], scores[~labels])
    eer, eer_threshold = equal_error_rate(thresholds, far, frr)
    dcf1, dcf1_threshold = min_dcf(thresholds, far, frr, 0.01)
    dcf5, dcf5_threshold = min_dcf(thresholds, far, frr, 0.05)
    # The lowest threshold whose FAR is still <= 1 % ("the threshold at 1 % FAR").
    k = np.nonzero(far <= 0.01)[0][-1]
    return {"eer": eer, "eer_threshold": eer_threshold, "min_dcf_0.01": dcf1, "min_dcf_0.05": dcf5,
            "min_dcf_0.01_threshold": dcf1_threshold, "min_dcf_0.05_threshold": dcf5_threshold,
            "threshold_far_1pct": float(thresholds[k]), "frr_at_far_1pct": float(frr[k])}


# --- embeddings, with an optional cache -------------------------------------

def file_key(path, mode):
    status = os.stat(path)
    return f"{mode}|{os.path.abspath(path)}|{status.st_size}|{status.st_mtime_ns}"


def load_cache(path):
    if not path or not os.path.exists(path):
        return {}
    with np.load(path, allow_pickle=False) as data:
        if "keys" not in data or "embeddings" not in data or len(data["keys"]) != len(data["embeddings"]):
            sys.exit(f"{sys.argv[0]}: {path}: not an embeddings cache written by this script (needs keys, embeddings)")
        return dict(zip(data["keys"].tolist(), data["embeddings"]))


def save_cache(path, cache):
    keys = sorted(cache)
    temporary = path + ".partial.npz"  # np.savez appends .npz to other names
    np.savez(temporary, keys=np.array(keys), embeddings=np.stack([cache[k] for k in keys]).astype(np.float32))
    os.replace(temporary, path)


def embed_all(files, root, trim, cache_path):
    mode = "preprocess_wav" if trim else "no-trim"
    cache = load_cache(cache_path)
    paths = [os.path.join(root, f) for f in files]
    for path in paths:
        if not os.path.isfile(path):
            sys.exit(f"{sys.argv[0]}: {path}: no such file (named in the trial list, relative to --root {root})")
    keys = [file_key(p, mode) for p in paths]
    missing = [i for i, k in enumerate(keys) if k not in cache]
    if missing:
        resemblyzer = support.import_resemblyzer()
        encoder = support.load_encoder(resemblyzer)
        for n, i in enumerate(missing, 1):
            try:
                cache[keys[i]] = support.embed_file(resemblyzer, encoder, paths[i], trim=trim)
            except Exception as error:
                sys.exit(f"{sys.argv[0]}: {error if paths[i] in str(error) else f'{paths[i]}: {error}'}")
            if n % 50 == 0 or n == len(missing):
                print(f"embedded {n}/{len(missing)}", file=sys.stderr, flush=True)
        if cache_path:
            save_cache(cache_path, cache)
    return np.stack([cache[k] for k in keys]).astype(np.float64), len(missing)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", required=True, help="trial list: LABEL PATH_A PATH_B per line")
    parser.add_argument("--root", required=True, help="folder the trial paths are relative to")
    parser.add_argument("--embeddings-cache", metavar="FILE", help="reuse and extend embeddings kept in this .npz")
    parser.add_argument("--no-trim", action="store_true", help="skip trim_long_silences (parity mode)")
    args = parser.parse_args()
    if args.embeddings_cache and not args.embeddings_cache.endswith(".npz"):
        parser.error(f"--embeddings-cache {args.embeddings_cache}: the name must end in .npz")

    started = time.monotonic()
    labels, firsts, seconds = read_trials(args.trials)
    files = sorted(set(firsts) | set(seconds))
    index = {f: i for i, f in enumerate(files)}
    a = np.array([index[f] for f in firsts])
    b = np.array([index[f] for f in seconds])
    if labels.all() or not labels.any():
        sys.exit(f"{sys.argv[0]}: {args.trials}: needs both target (1) and impostor (0) trials")

    embeddings, embedded = embed_all(files, args.root, not args.no_trim, args.embeddings_cache)
    embed_seconds = time.monotonic() - started

    # Scores in float32, as Voiceprint computes them.
    raw = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    centred = raw - raw.mean(axis=0)
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    results = {}
    for name, vectors in (("raw", raw), ("mean-subtracted", centred)):
        v = vectors.astype(np.float32)
        scores = np.einsum("ij,ij->i", v[a], v[b])
        results[name] = metrics(scores, labels)

    import importlib.metadata
    print(json.dumps({
        "system": f"resemblyzer {importlib.metadata.version('resemblyzer')}",
        "preprocess": "preprocess_wav" if not args.no_trim else "no-trim (normalize_volume only)",
        "trials_file": args.trials, "trials": int(len(labels)), "targets": int(labels.sum()),
        "impostors": int((~labels).sum()), "files": len(files), "files_embedded_now": embedded,
        "raw": results["raw"], "mean-subtracted": results["mean-subtracted"],
        "seconds": {"embedding": round(embed_seconds, 2), "total": round(time.monotonic() - started, 2)},
    }, indent=2))


if __name__ == "__main__":
    main()
