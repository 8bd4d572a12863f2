#!/usr/bin/env python3
"""Independent reference values for Voiceprint's log-mel / MFCC extractor.

Run once; its outputs are committed as test fixtures:

    python3 scripts/make-feature-reference.py Tests/VoiceprintFeaturesTests/Fixtures

It needs torch + torchaudio (and soundfile, scipy) in a venv; `make feature-reference`
creates one. The reference is torchaudio.compliance.kaldi, a re-implementation of
Kaldi's compute-fbank-feats / compute-mfcc-feats, computed in float64 with the
same conventions as Voiceprint's defaults (FeatureOptions): 25 ms Povey window,
10 ms shift, 512-point FFT, pre-emphasis 0.97, DC removal, 80 mel bins over
20-7600 Hz, snip-edges framing, no dither, natural log floored at float epsilon.
Waveform scale is [-1, 1] on both sides (libsndfile's and soundfile's float read).

torchaudio's top-level import checks that its CUDA build matches torch's, which
fails for mismatched wheels on a CPU-only machine; compliance/kaldi.py is pure
PyTorch, so it is loaded on its own with a stub `torchaudio` that supplies the
one helper it calls (create_dct, for MFCCs), implemented with scipy's DCT-II.
"""
import importlib.util
import os
import sys
import types

import numpy as np
import scipy.fft
import soundfile
import torch


def load_kaldi_module():
    spec = importlib.util.find_spec("torchaudio")
    root = os.path.dirname(spec.origin)
    stub = types.ModuleType("torchaudio")
    stub.functional = types.SimpleNamespace(create_dct=create_dct)
    sys.modules["torchaudio"] = stub
    kaldi_spec = importlib.util.spec_from_file_location("kaldi_reference", os.path.join(root, "compliance", "kaldi.py"))
    module = importlib.util.module_from_spec(kaldi_spec)
    kaldi_spec.loader.exec_module(module)
    return module


def create_dct(n_mfcc, n_mels, norm):
    # torchaudio's create_dct returns the transposed orthonormal DCT-II matrix [n_mels, n_mfcc].
    assert norm == "ortho"
    basis = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)  # [n_mfcc, n_mels] as rows
    return torch.tensor(basis[:n_mfcc].T.copy())


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    wav = os.path.join(out_dir, "speech-16k.wav")
    samples, rate = soundfile.read(wav, dtype="float64")
    assert rate == 16000 and samples.ndim == 1, (rate, samples.shape)
    kaldi = load_kaldi_module()
    waveform = torch.tensor(samples).unsqueeze(0)
    common = dict(sample_frequency=16000, frame_length=25.0, frame_shift=10.0, dither=0.0,
                  preemphasis_coefficient=0.97, remove_dc_offset=True, window_type="povey",
                  round_to_power_of_two=True, snip_edges=True, num_mel_bins=80,
                  low_freq=20.0, high_freq=7600.0)
    fbank = kaldi.fbank(waveform, use_log_fbank=True, use_power=True, use_energy=False, **common)
    mfcc = kaldi.mfcc(waveform, num_ceps=20, cepstral_lifter=22.0, use_energy=False, **common)
    np.save(os.path.join(out_dir, "fbank-reference.npy"), fbank.numpy().astype(np.float32))
    np.save(os.path.join(out_dir, "mfcc-reference.npy"), mfcc.numpy().astype(np.float32))
    print(f"{wav}: {len(samples)} samples -> fbank {tuple(fbank.shape)}, mfcc {tuple(mfcc.shape)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Tests/VoiceprintFeaturesTests/Fixtures")
