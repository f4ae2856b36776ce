# Two entry points for a fresh Debian 12 machine: `make run` and `make test`.
# Both install the Debian packages that are missing, then build with meson.

BUILD     ?= build
SANBUILD  ?= build-san
MESON_OPTS ?=

.PHONY: all deps build build-san run test unit api clean bench

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release -Db_ndebug=false -Dtests=false $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(SANBUILD)/build.ninja:
	meson setup $(SANBUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false $(MESON_OPTS)

build-san: deps $(SANBUILD)/build.ninja
	ninja -C $(SANBUILD)

run: build
	./$(BUILD)/recoupd $(RECOUPD_ARGS)

# Every test runs against the sanitizer build; the release build is compiled
# too so that warnings in either configuration fail the run.
test: build build-san
	./scripts/run-tests.sh $(SANBUILD)

bench: build
	./bench/run-all.sh

clean:
	rm -rf $(BUILD) $(SANBUILD)
