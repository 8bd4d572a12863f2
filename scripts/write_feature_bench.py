#!/usr/bin/env python3
"""Writes the front-end section of docs/benchmarks.md from the bench's JSON files.

Usage: write_feature_bench.py SWIFT.json PYTHON.json docs/benchmarks.md "COMMAND"
The section between the 'features' markers is replaced; the rest of the file is kept.
When an earlier section exists, each figure's ratio to the previous run is printed.
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys

BEGIN, END = "<!-- bench:features:begin -->", "<!-- bench:features:end -->"


def load(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def row(r):
    rtf = [r["audioSeconds"] / s for s in r["seconds"]]
    med = r["audioSeconds"] / statistics.median(r["seconds"])
    return med, f"| {r['name']} | {med:,.0f}× | {min(rtf):,.0f}× – {max(rtf):,.0f}× |"


def main(swift_json, python_json, doc, command):
    swift, python = load(swift_json), load(python_json)
    previous = {}
    text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
    if BEGIN in text:
        old = text[text.index(BEGIN):text.index(END)]
        for m in re.finditer(r"^\| (.+?) \| ([\d,]+)× \|", old, re.M):
            previous[m.group(1)] = float(m.group(2).replace(",", ""))

    lines = [BEGIN, "## Front end: decode, resample, VAD, log-mel (one core)", "",
             f"Machine: {cpu_model()}, {os.cpu_count()} cores; pinned to one core with `taskset`; "
             "every Python library limited to one thread. Median of the repeats after one warm-up; "
             "the range is the slowest and fastest repeat. Signal: synthetic speech-like audio "
             "(voiced syllables and pauses), 16 kHz.", "",
             f"Command: `{command}`", "",
             "| figure | median real-time factor | range |", "|---|---:|---:|"]
    medians = {}
    for r in swift + python:
        med, line = row(r)
        medians[r["name"]] = med
        lines.append(line)
        if r["name"] in previous:
            print(f"{r['name']}: {med / previous[r['name']]:.2f}× the previous run")
    lines.append("")
    ours = medians.get("log-mel alone, one call")
    for peer in ("librosa melspectrogram + log, one call", "python_speech_features logfbank, one call"):
        if ours and peer in medians:
            lines.append(f"- Voiceprint log-mel / {peer.split(',')[0]}: **{ours / medians[peer]:.1f}×**")
    ours3 = medians.get("log-mel alone, 3 s calls")
    peer3 = medians.get("librosa melspectrogram + log, 3 s calls")
    if ours3 and peer3:
        lines.append(f"- in 3 s calls, Voiceprint / librosa: **{ours3 / peer3:.1f}×**")
    if not python:
        lines.append("- Python peers not measured in this run (no venv with librosa could be made).")
    lines += ["", END]
    section = "\n".join(lines)
    if BEGIN in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    with open(doc, "w") as f:
        f.write(text)
    print(f"wrote {doc}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
