#!/usr/bin/env python3
"""Times librosa and python_speech_features on the WAV that the Swift bench wrote.

Settings match Voiceprint's front end as far as each library allows: 16 kHz,
25 ms / 10 ms frames, 512-point FFT, 80 mel bands over 20-7600 Hz, log.
Usage: bench_features_python.py FILE.wav REPEATS OUT.json
"""
import json
import statistics
import sys
import time

import librosa
import numpy as np
import python_speech_features
import soundfile


def timed(name, fn, audio_seconds, repeats):
    fn()  # warm-up (librosa builds its filter bank and caches on first use)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    factors = [audio_seconds / s for s in seconds]
    median = audio_seconds / statistics.median(seconds)
    # Same row format as the Swift bench (Measurement.row).
    return {"name": name, "median": f"{median:.0f}×", "range": f"{min(factors):.0f}× – {max(factors):.0f}×",
            "value": str(median)}


def main(path, repeats, out):
    y, sr = soundfile.read(path, dtype="float32")
    assert sr == 16000
    total = len(y) / sr
    three = y[: 3 * sr]
    chunks = int(total // 3)

    def librosa_logmel(x):
        m = librosa.feature.melspectrogram(y=x, sr=sr, n_fft=512, hop_length=160, win_length=400,
                                           n_mels=80, fmin=20, fmax=7600, power=2.0, center=False)
        return np.log(np.maximum(m, 1.1920929e-07))

    def psf(x):
        return python_speech_features.logfbank(x, samplerate=sr, winlen=0.025, winstep=0.01, nfilt=80,
                                               nfft=512, lowfreq=20, highfreq=7600)

    results = [
        timed("librosa melspectrogram + log, one call", lambda: librosa_logmel(y), total, repeats),
        timed("librosa melspectrogram + log, 3 s calls", lambda: [librosa_logmel(three) for _ in range(chunks)],
              chunks * 3.0, repeats),
        timed("python_speech_features logfbank, one call", lambda: psf(y), total, repeats),
    ]
    for r in results:
        print(f"{r['name']:<56} {r['median']} (range {r['range']})")
    with open(out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
