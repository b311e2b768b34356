# Thin wrapper over CMake for the README's commands.
#   make run    install deps, build, start the daemon on 127.0.0.1:8080 (state in ./var)
#   make test   install deps, build with -Werror, run every test (and again under ASan+UBSan)
BUILD  ?= build
JOBS   ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-asan check-golden clean install test-tsan

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

run: build
	mkdir -p var
	./$(BUILD)/quantd serve --listen 127.0.0.1:8080 --state-dir ./var

test:
	@./scripts/install-deps.sh --test
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQD_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	$(MAKE) test-asan

test-asan:
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DQD_WERROR=ON -DQD_SANITIZE=ON >/dev/null
	cmake --build $(BUILD)-asan -j$(JOBS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j$(JOBS) -LE slow

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-asan

# The daemon's integration tests under ThreadSanitizer (issue 6): the daemon's
# pool threads, MHD and libuv together. A report stops the daemon (exit 66),
# which fails the test; reports are kept in $(BUILD)-tsan/tsan.*. Fewer crash
# rounds than in `make test`: TSan is slow.
TSAN_TESTS = ^(test_daemon|test_models|smoke_readme|test_abuse|test_faults|test_crash)$$
test-tsan:
	cmake -S . -B $(BUILD)-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQD_WERROR=ON -DQD_TSAN=ON >/dev/null
	cmake --build $(BUILD)-tsan -j$(JOBS)
	rm -f $(BUILD)-tsan/tsan.*
	cd $(BUILD)-tsan && TSAN_OPTIONS=halt_on_error=1:exitcode=66:log_path=$(CURDIR)/$(BUILD)-tsan/tsan \
		QD_CRASH_ROUNDS=8 ctest --output-on-failure -j$(JOBS) -R '$(TSAN_TESTS)'; rc=$$?; \
		cat tsan.* 2>/dev/null; [ $$rc -eq 0 ] && ! ls tsan.* >/dev/null 2>&1
