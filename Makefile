# Convenience targets; scripts/dev does the real work (and the set-up).
.PHONY: serve test lint format bench fuzz clean

serve:
	scripts/dev serve

test:
	scripts/dev test

lint:
	.venv/bin/ruff check src providers tests bench
	.venv/bin/ruff format --check src providers tests bench

format:
	.venv/bin/ruff format src providers tests bench
	.venv/bin/ruff check --fix src providers tests bench

bench:
	scripts/dev bench

fuzz:
	scripts/dev setup test
	.venv/bin/python -m bench.fuzz --examples 20000

clean:
	rm -rf .cache .pytest_cache .ruff_cache build dist src/*.egg-info
