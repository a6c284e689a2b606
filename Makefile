# deeplesion: `make demo` runs the whole pipeline on synthetic data, `make test` runs the suite.
export XDG_RUNTIME_DIR ?= /tmp
CARGO ?= cargo

.PHONY: demo test driver bench lint fmt fixtures

driver:
	@bash scripts/ensure-vulkan.sh

# The dev profile compiles dependencies at opt-level 2 (Cargo.toml) and shares them with `make test`;
# a release build of wgpu and friends costs more minutes on 2 cores than it saves, since the time
# goes into the WGSL kernels, which the Rust profile does not change.
demo: driver
	$(CARGO) run -- demo

test: driver
	$(CARGO) test --all-targets

bench: driver
	$(CARGO) bench --bench kernels

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt
