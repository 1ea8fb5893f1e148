# The whole set-up is two commands: `make demo` (tune an agent) and `make test`.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test bench clean

install: $(BIN)/tooltune
$(BIN)/tooltune: pyproject.toml scripts/install.sh
	bash scripts/install.sh
	@touch $@

# Pull SmolLM2-135M-Instruct, synthesize tool-calling data, LoRA-tune it, print tool-call accuracy
# on held-out conversations before and after, and say where the adapter is.
demo: install
	$(BIN)/tooltune models pull smollm2-135m-instruct
	$(BIN)/tooltune data synth -o data/tooltune_demo.json -n 240 --seed 0 --distractors 1 --langs en
	$(BIN)/tooltune train examples/demo_agent.yaml overwrite_output_dir=true

test: install
	$(BIN)/python -m pytest -q --timeout 1200 $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/train_throughput.py

clean:
	rm -rf saves .pytest_cache
