# Voiceprint: `make run` sets everything up and runs it; `make test` runs the tests.
SWIFT    ?= swift
PREFIX   ?= /usr/local
RELEASE  := .build/release
SAMPLE   := out/sample.wav

.PHONY: all deps build debug run test bench bench-features bench-model feature-reference clean

all: build

deps:
	@./scripts/install-deps

build: deps
	$(SWIFT) build -c release

debug: deps
	$(SWIFT) build

# Until the daemon exists (issue 5), `run` shows what the front end makes of a
# generated utterance.
run: build
	@mkdir -p out
	espeak-ng -v en-us -w $(SAMPLE) "Voiceprint turns a few seconds of speech into a voice signature."
	$(RELEASE)/voiceprint features $(SAMPLE) --output out/sample-features.npy

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
