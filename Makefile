# deeplesion: `make demo` runs the whole pipeline on synthetic data, `make test` runs the suite.
export XDG_RUNTIME_DIR ?= /tmp
CARGO ?= cargo

.PHONY: demo test driver bench lint fmt fixtures

driver:
	@bash scripts/ensure-vulkan.sh

demo: driver
	$(CARGO) run --release -- demo

test: driver
	$(CARGO) test --all-targets

bench: driver
	$(CARGO) bench --bench kernels

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt
