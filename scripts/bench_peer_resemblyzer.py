#!/usr/bin/env python3
"""Resemblyzer's throughput on one core: the Resemblyzer side of scripts/bench-peer.

    VENV/bin/python scripts/bench_peer_resemblyzer.py --seconds S [--offset K] FILE.wav...

Run by scripts/bench-peer in two copies at once, each pinned to one core
(taskset) with every numeric library at one thread. For each mode it loads and
warms up, prints {"ready": MODE}, waits for one line on stdin (so that both
copies time the same mode at the same time), then runs the mode over the files
in turn for S seconds and prints {"mode", "utterances", "seconds"}; one JSON
object per line on stdout, after a first {"versions": {...}}.

Modes (Resemblyzer 0.1.4, VoiceEncoder on the CPU, embed_utterance's defaults):
  full   read the file (librosa.load, as preprocess_wav reads a path),
         preprocess_wav (volume normalisation, webrtcvad trim_long_silences),
         embed_utterance: what a caller of Resemblyzer does per file;
  embed  embed_utterance on waveforms preprocessed beforehand: the mel
         spectrogram, the partial windows and the LSTM pass;
  batch  16 preprocessed waveforms at a time: each one's partial windows and
         mel spectrogram as embed_utterance makes them (timed), all their
         partials stacked into one tensor for a single LSTM pass, then each
         utterance's partial embeddings averaged and normalised as
         embed_utterance does;
  lstm   the same batches of 16 with the mel spectrograms computed beforehand:
         only the stacking, the one LSTM pass and the averaging are timed.
"""
import argparse
import importlib.metadata
import json
import os
import sys
import time

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import resemblyzer_support as support  # noqa: E402

BATCH = 16
MODES = ("full", "embed", "batch", "lstm")


def partials(resemblyzer, encoder, wav):
    """The [n, 160, 40] mel windows that embed_utterance feeds its network (its own steps)."""
    wav_slices, mel_slices = encoder.compute_partial_slices(len(wav), 1.3, 0.75)
    if wav_slices[-1].stop >= len(wav):
        wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)), "constant")
    mel = resemblyzer.audio.wav_to_mel_spectrogram(wav)
    return np.array([mel[s] for s in mel_slices])


def embed_stacked(encoder, windows):
    """One LSTM pass over every utterance's windows; per utterance the mean of its partial
    embeddings, normalised (embed_utterance's last steps)."""
    with torch.no_grad():
        out = encoder(torch.from_numpy(np.concatenate(windows))).numpy()
    embeddings, start = [], 0
    for w in windows:
        raw = out[start:start + len(w)].mean(axis=0)
        embeddings.append(raw / np.linalg.norm(raw, 2))
        start += len(w)
    return embeddings


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="16 kHz WAV files")
    parser.add_argument("--seconds", type=float, default=15, help="timed seconds per mode")
    parser.add_argument("--offset", type=int, default=0, help="start at this file (copies start apart)")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated, of " + ", ".join(MODES))
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    resemblyzer = support.import_resemblyzer()
    encoder = support.load_encoder(resemblyzer)
    files = args.files[args.offset % len(args.files):] + args.files[:args.offset % len(args.files)]
    wavs = [support.prepare(resemblyzer, *support.load_audio(path)) for path in files]
    groups = [[wavs[(g * BATCH + k) % len(wavs)] for k in range(BATCH)] for g in range(max(1, len(wavs) // BATCH))]
    group_windows = [[partials(resemblyzer, encoder, w) for w in group] for group in groups]

    # The batched path gives embed_utterance's embeddings (same steps, one pass).
    reference = [encoder.embed_utterance(w) for w in groups[0]]
    batched = embed_stacked(encoder, group_windows[0])
    worst = min(float(np.dot(a, b)) for a, b in zip(reference, batched))
    if worst < 0.9999:
        sys.exit(f"{sys.argv[0]}: batched embeddings differ from embed_utterance's (cosine {worst:.6f})")

    steps = {
        "full": (1, lambda i: support.embed_file(resemblyzer, encoder, files[i % len(files)])),
        "embed": (1, lambda i: encoder.embed_utterance(wavs[i % len(wavs)])),
        "batch": (BATCH, lambda i: embed_stacked(encoder, [partials(resemblyzer, encoder, w) for w in groups[i % len(groups)]])),
        "lstm": (BATCH, lambda i: embed_stacked(encoder, group_windows[i % len(groups)])),
    }
    print(json.dumps({"versions": {"resemblyzer": importlib.metadata.version("resemblyzer"), "torch": torch.__version__,
                                   "numpy": np.__version__, "python": sys.version.split()[0]}}), flush=True)
    for mode in args.modes.split(","):
        per_step, step = steps[mode]
        warm_until = time.perf_counter() + 2
        i = 0
        while time.perf_counter() < warm_until or i < 2:
            step(i)
            i += 1
        print(json.dumps({"ready": mode}), flush=True)
        if not sys.stdin.readline():
            sys.exit(f"{sys.argv[0]}: stdin closed before {mode}")
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            step(count)
            count += 1
        elapsed = time.perf_counter() - start
        print(json.dumps({"mode": mode, "utterances": count * per_step, "seconds": elapsed}), flush=True)


if __name__ == "__main__":
    main()
