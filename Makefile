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

# The shipped default (Models/README.md): Resemblyzer's GE2E encoder imported from
# its PyPI wheel, then its projection head fine-tuned with the triplet loss on the
# synthetic training speakers (encoder frozen), calibrated on synthetic validation speakers.
default-model: build corpus import-pretrained
	$(RELEASE)/voiceprint train --data $(SPLIT)/train --init Models/resemblyzer-ge2e.safetensors --fine-tune head \
	  --out Models/default.safetensors --steps 1000 --validate-every 250 --learning-rate 1e-4 --seed 1
	$(RELEASE)/voiceprint evaluate --trials $(SPLIT)/test-trials.txt --root $(CORPUS) --model Models/default.safetensors

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
# file's bf16 embedding against its float32 one, and both EERs, for each GE2E model.
check-precision: build
	apt-get install -y -qq sox klettres-data ktuberling-data
	test -f $(REAL)/trials-all.txt || scripts/build-real-devset --out $(REAL)
	$(SWIFT) build -c release --product VoiceprintBench
	for model in Models/default.safetensors Models/resemblyzer-ge2e.safetensors; do \
	  for list in all same-language; do \
	    $(RELEASE)/VoiceprintBench precision --trials $(REAL)/trials-$$list.txt --root $(REAL) --model $$model || exit 1; \
	  done; \
	done

# Converts Resemblyzer's pretrained GE2E encoder (PyPI wheel, Apache-2.0) into our format.
import-pretrained:
	scripts/import-pretrained --out Models/resemblyzer-ge2e.safetensors

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
	@# The default is a derivative of an Apache-2.0 model: its licence travels with it.
	install -m 0644 Models/default.safetensors Models/voiceprint-tdnn.safetensors Models/README.md \
	  Models/resemblyzer-ge2e.LICENSE.txt $(DESTDIR)$(SHAREDIR)/
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
