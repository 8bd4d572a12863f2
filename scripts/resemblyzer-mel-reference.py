#!/usr/bin/env python3
"""Reference values for Voiceprint's GE2E front end: Resemblyzer's own mel
spectrogram of a test clip. Run once; its output is committed as a fixture:

    VENV/bin/python scripts/resemblyzer-mel-reference.py \\
        --out Tests/VoiceprintFeaturesTests/Fixtures/ge2e-mel-reference.npy

It needs resemblyzer==0.1.4 in the venv (docs/pretrained.md). The input
(default Tests/VoiceprintFeaturesTests/Fixtures/speech-16k.wav) is read as
Resemblyzer reads a path (librosa.load at its own rate, float32 in [-1, 1],
the same scale as libsndfile's float read), volume-normalised with
resemblyzer.normalize_volume(wav, -30, increase_only=True), and turned into
mel frames by resemblyzer.wav_to_mel_spectrogram: librosa's melspectrogram
with n_fft 400, hop 160, 40 Slaney mel bands (Slaney-normalised) over
0-8000 Hz, periodic Hann window, centred frames with zero padding (librosa
0.9 and later; older librosa padded by reflection), power, no log. The
output is float32 [frames, 40], frames = 1 + samples // 160.

No trim_long_silences and no partial-window padding: this fixture checks
the front end alone. librosa's version is printed, because the padding mode
above depends on it.
"""
import argparse
import os
import sys

import numpy as np

import resemblyzer_support as support

DEFAULT_INPUT = "Tests/VoiceprintFeaturesTests/Fixtures/speech-16k.wav"
SIZE_LIMIT = 200 * 1024  # fixtures stay small; crop the input past this


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output .npy path (float32 [frames, 40])")
    parser.add_argument("--input", default=DEFAULT_INPUT, help=f"16 kHz audio clip (default: {DEFAULT_INPUT})")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="use only the first N seconds of the input (to keep the fixture small)")
    args = parser.parse_args()

    resemblyzer = support.import_resemblyzer()
    import librosa
    wav, rate = support.load_audio(args.input)
    if rate != support.SAMPLE_RATE:
        # The Swift test feeds the same file to its front end without resampling.
        sys.exit(f"{sys.argv[0]}: {args.input}: sample rate {rate} Hz; the reference needs a {support.SAMPLE_RATE} Hz clip")
    if args.max_seconds is not None:
        wav = wav[: int(args.max_seconds * rate)]
    normalised = resemblyzer.normalize_volume(wav, support.TARGET_DBFS, increase_only=True)
    mel = resemblyzer.wav_to_mel_spectrogram(normalised)
    assert mel.dtype == np.float32 and mel.shape == (1 + len(wav) // 160, 40), mel.shape
    if mel.nbytes > SIZE_LIMIT:
        sys.exit(f"{sys.argv[0]}: {mel.nbytes} bytes of mel frames is over the {SIZE_LIMIT}-byte fixture budget; "
                 "pass --max-seconds 2")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    # C order: Voiceprint's NumpyFile reads row-major arrays only (mel is a transposed view).
    np.save(args.out, np.ascontiguousarray(mel))
    gain_db = 20 * np.log10(np.sqrt(np.mean(normalised.astype(np.float64) ** 2)) /
                            np.sqrt(np.mean(wav.astype(np.float64) ** 2)))
    print(f"{args.input}: {len(wav)} samples at {rate} Hz, gain {gain_db:+.2f} dB -> {args.out} "
          f"{mel.shape} float32, values {mel.min():.3g}..{mel.max():.3g} (librosa {librosa.__version__})")


if __name__ == "__main__":
    main()
