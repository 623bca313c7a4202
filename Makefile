# The two commands: `make run` and `make test`. Everything else is a helper for them.
BUILD   ?= build          # debug build (clang) with ASan+UBSan and fuzz instrumentation: what the tests use
RELEASE ?= build-release  # -O2 build: what `make run` starts
TSAN    ?= build-tsan     # gcc ThreadSanitizer build for the concurrent tests
CONFIG  ?= examples/vigil.yml

.PHONY: all deps build release run test tsan clean
TSAN_TESTS = tsdb_head tsdb_wal selfmon_registry service_appender

all: build

deps:
	@./scripts/deps.sh

$(strip $(BUILD))/build.ninja:
	CC=clang meson setup $(strip $(BUILD)) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

$(strip $(TSAN))/build.ninja:
	CC=gcc meson setup $(strip $(TSAN)) -Db_sanitize=thread -Db_lundef=false

$(strip $(RELEASE))/build.ninja:
	meson setup $(strip $(RELEASE)) -Doptimization=2 -Ddebug=false -Db_ndebug=true -Dtests=false

build: deps $(strip $(BUILD))/build.ninja
	ninja -C $(strip $(BUILD))

release: deps $(strip $(RELEASE))/build.ninja
	ninja -C $(strip $(RELEASE))

run: release
	mkdir -p data
	exec ./$(strip $(RELEASE))/vigil serve --config $(CONFIG)

# Concurrent appenders/readers and the sharded counters under ThreadSanitizer.
tsan: deps $(strip $(TSAN))/build.ninja
	ninja -C $(strip $(TSAN)) $(addprefix tests/test_,$(TSAN_TESTS))
	TSAN_OPTIONS=halt_on_error=1 meson test -C $(strip $(TSAN)) --no-rebuild $(TSAN_TESTS)

# The release build (gcc -O2) is compiled too, so a warning that only gcc or -O2 sees fails the tests.
test: build release tsan
	./scripts/run-tests.sh $(strip $(BUILD))

clean:
	rm -rf $(strip $(BUILD)) $(strip $(RELEASE)) $(strip $(TSAN))
