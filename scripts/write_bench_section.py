#!/usr/bin/env python3
"""Writes one section of docs/benchmarks.md from benchmark JSON rows.

Usage: write_bench_section.py DOC SECTION TITLE COMMAND NOTE JSON [JSON ...]

Each JSON file holds rows {"name", "median", "range", "value"} (missing files
are skipped), or an object {"columns": [3 headers], "rows": [...], "lines":
[Markdown lines after the table]} for a table with other column names. The
section between <!-- bench:SECTION:begin/end --> markers is replaced and the
rest of the file kept. Each figure's ratio to the previous
run's value is printed, so a regression shows up when the bench is rerun.
For the features section, the ratio of Voiceprint's log-mel to librosa's is added.
"""
import json
import os
import re
import subprocess
import sys


def cpu_model():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main(doc, section, title, command, note, *json_files):
    rows, columns, after = [], ["figure", "median", "range over runs"], []
    for path in json_files:
        if os.path.exists(path):
            with open(path) as f:
                data = json.load(f)
            if isinstance(data, dict):
                columns, after = data.get("columns", columns), after + data.get("lines", [])
                data = data["rows"]
            rows += data
    begin, end = f"<!-- bench:{section}:begin -->", f"<!-- bench:{section}:end -->"
    text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
    previous = {}
    if begin in text:
        old = text[text.index(begin):text.index(end)]
        for m in re.finditer(r"^\| (.+?) \| ([\d,.]+)", old, re.M):
            previous[m.group(1)] = float(m.group(2).replace(",", ""))

    lines = [begin, f"## {title}", "", f"Machine: {cpu_model()}, {os.cpu_count()} cores. {note}", "",
             f"Command: `{command}`", "", "| " + " | ".join(columns) + " |", "|---|---:|---:|"]
    values = {}
    for r in rows:
        values[r["name"]] = float(r["value"])
        lines.append(f"| {r['name']} | {r['median']} | {r['range']} |")
        if r["name"] in previous and previous[r["name"]] > 0:
            print(f"{r['name']}: {float(r['value']) / previous[r['name']]:.2f}× the previous run")
    if section == "features":
        ours = values.get("log-mel alone, one call")
        lines.append("")
        for peer in ("librosa melspectrogram + log, one call", "python_speech_features logfbank, one call"):
            if ours and peer in values:
                lines.append(f"- Voiceprint log-mel ÷ {peer.split(',')[0]}: **{ours / values[peer]:.1f}×**")
        if "log-mel alone, 3 s calls" in values and "librosa melspectrogram + log, 3 s calls" in values:
            ratio = values["log-mel alone, 3 s calls"] / values["librosa melspectrogram + log, 3 s calls"]
            lines.append(f"- in 3 s calls, Voiceprint ÷ librosa: **{ratio:.1f}×**")
        if not any("librosa" in name for name in values):
            lines.append("- Python peers not measured in this run (no venv with librosa could be made).")
    if after:
        lines += [""] + after
    lines += ["", end]
    section_text = "\n".join(lines)
    if begin in text:
        text = text[:text.index(begin)] + section_text + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + section_text + "\n"
    with open(doc, "w") as f:
        f.write(text)
    print(f"wrote section '{section}' of {doc}")


if __name__ == "__main__":
    if len(sys.argv) < 7:
        sys.exit(__doc__)
    main(*sys.argv[1:])
