# Voiceprint: `make run` sets everything up and runs it; `make test` runs the tests.
SWIFT    ?= swift
PREFIX   ?= /usr/local
RELEASE  := .build/release

.PHONY: all deps build debug run test bench bench-features bench-model feature-reference clean

all: build

deps:
	@./scripts/install-deps

build: deps
	$(SWIFT) build -c release

debug: deps
	$(SWIFT) build

SOCKET   ?= ./voiceprint.sock
STATE    ?= ./state

# The main job: voiceprintd with the shipped model and a local store, in the
# foreground (Ctrl-C stops it gracefully). It prints how to talk to it.
run: build
	@test -f Models/default.safetensors || { echo "Models/default.safetensors is missing (see Models/README.md)"; exit 1; }
	@echo "voiceprintd on $(SOCKET), state in $(STATE)/. From another terminal:"
	@echo "  echo '{\"op\":\"hello\"}' | socat - UNIX-CONNECT:$(SOCKET)"
	@echo "  espeak-ng -w /tmp/a.wav 'my voice is my passport' && $(RELEASE)/voiceprint features /tmp/a.wav"
	@echo "  see docs/protocol.md for every request"
	$(RELEASE)/voiceprintd --socket $(SOCKET) --state-dir $(STATE) --model Models/default.safetensors

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

# Benchmarks are release builds, pinned to one core; results go to docs/benchmarks.md.
bench: bench-features bench-model

bench-features: deps
	$(SWIFT) build -c release --product VoiceprintBench
	./scripts/bench-features

bench-model: deps
	$(SWIFT) build -c release --product VoiceprintBench
	./scripts/bench-model

# Regenerates the torchaudio reference values committed under Tests/ (needs PyPI).
feature-reference:
	python3 -m venv .venv-ref
	.venv-ref/bin/pip install -q numpy scipy soundfile torch torchaudio
	.venv-ref/bin/python scripts/make-feature-reference.py Tests/VoiceprintFeaturesTests/Fixtures

clean:
	rm -rf .build out
