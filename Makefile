# edgekit: `make demo` runs the main job, `make test` runs the whole test suite.
# Both set up what they need first (apt packages, .venv) via tools/setup.sh.
.PHONY: setup demo test lint bench clean

setup:
	@bash tools/setup.sh

demo: setup
	.venv/bin/edgekit demo

test: setup
	.venv/bin/python -m pytest -q -n 2 tests
	.venv/bin/python -m pytest -q hw_tests --emulate

lint: setup
	.venv/bin/ruff check edgekit tests hw_tests bench

bench: setup
	.venv/bin/python bench/arena.py --json bench/results/arena.json --md bench/results/arena.md

clean:
	rm -rf build out .pytest_cache
