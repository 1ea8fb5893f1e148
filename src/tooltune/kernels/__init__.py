"""The performance code, in one place: CPU kernels that earn their place by a measured gain.

Everything here has a plain torch path it replaces and falls back to (no compiler, no AVX2, an
op that is missing): results agree with that path (bitwise for the batch-invariant serving
kernels, float rounding otherwise), and the tests compare each against it. Measured side by
side on SmolLM2-135M, 2-core AMD EPYC (AVX2), figures from each module's docstring:

| kernel | used by | replaces | measured gain |
|---|---|---|---|
| `half_linear` (C++, csrc/half_linear.cpp) | serving, the `fp16` weights path (engine/weights.py picks it per CPU) | fp32 matmuls | a decode step's matmuls 19.1 -> ~10 ms (1 row), 52.7 -> ~32 ms (16 rows); batch-invariant. Its AVX-512 rows path (same bits): a 16-row step 66.7 -> 56.2 ms (Xeon with AMX, 2026-12-03) |
| `decode_attention` (C++, csrc/decode_attention.cpp) | serving | torch attention over the batch's window | attention of a 10-row step 17.5-23.8 -> 6.1-6.7 ms |
| `packed_linear` (oneDNN prepacked weights) | serving where fp16 weights are not used | MKL sgemm | 16-row step matmuls 72 -> 40 ms, 1 row 8.6 -> 3.9 ms (LM head) |
| `packed_attention` | training packed rows on CPU | one masked SDPA call per row | attention was a third of a step at 1024 tokens; one causal call per conversation |
| `causal_attention` | training on CPU | the stock causal SDPA kernel | 2% more tokens/s on packed glaive rows |
| `lora_linear` | LoRA training on CPU | peft's separate ops | ~5% a step |

`build` compiles csrc/ once into $TOOLTUNE_HOME/kernels. The two training kernels' gains (2-5%)
are the smallest here; each stays while its measured gain is above zero on the CPUs it runs on.
"""
