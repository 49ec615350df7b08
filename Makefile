# Thin wrapper over meson so that each README command is one line.
#   make run    install what is missing, build, run flared on conf/flared.yaml
#   make test   install what is missing, build with -Werror, run every test suite
BUILD ?= build

.PHONY: all deps build run test clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=true

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	$(BUILD)/src/flared/flared -c conf/flared.yaml

test: build
	meson test -C $(BUILD) --print-errorlogs --num-processes 2

clean:
	rm -rf $(BUILD)
