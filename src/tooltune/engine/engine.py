"""Continuous batching: every running request decodes in one batched forward per step.

One thread owns the model. Each loop: drop cancelled requests, admit waiting ones, then one
decode step for the whole batch over a `SlotCache`. A prompt reuses the longest cached prefix it
shares with an earlier one (a system prompt and tool list), and the rest is computed inside the
decode steps, `chunk_tokens` a step in the same matmuls as the running rows (chunked prefill), so
newcomers neither stall the running streams for a forward of their own nor wait for them. Models
without the lean forward (fast_decode.py) prefill newcomers together in one padded forward
instead. Requests join and leave between steps, so a short answer never waits for a long one.
Each request gets an iterator of `Output` events (async in the server, plain in scripts);
cancelling it (a client that hung up) frees its row before the next step.
"""
from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import threading
import time
from collections import deque

import torch

from tooltune.engine.detokenize import IncrementalDetokenizer
from tooltune.engine.fast_decode import PrefillChunk, build_fast_decoder
from tooltune.engine.kv_cache import SlotCache
from tooltune.engine.prefix_cache import CachedPrefix, PrefixCache
from tooltune.engine.requests import RequestHandle, Sequence, prompt_lookup
from tooltune.engine.sampling import sample_next
from tooltune.engine.types import Constraint, EngineFull, EngineStats, Output, SamplingParams

log = logging.getLogger("tooltune.engine")


class Engine:
    """Batched generation over one model (and its LoRA adapters, chosen per request).

    Threads and OpenMP: torch's CPU ops run on libgomp, which keeps one team of worker threads per
    thread that opens parallel regions. Once two threads have teams (say the one that loaded the
    model, and the engine's), there are more OpenMP threads than cores on a small machine, and
    libgomp stops letting idle workers spin: every parallel region then waits for its workers to
    wake (~70 us for each of a decode step's few hundred small ops). Measured on SmolLM2-135M
    (2-core AVX2), the same one-row decode step: 22 ms from the thread that loaded the model,
    38-45 ms from a second thread. So `generate_all` decodes in the caller's thread when the
    engine's own is not started, and a server keeps its main thread serial from the start
    (`torch.set_num_threads(1)` before loading) and gives the engine's thread `threads`.
    """

    def __init__(self, model, tokenizer, *, stop_token_ids: list[int], stop_strings: tuple[str, ...] = (),
                 max_model_len: int | None = None,
                 max_batch: int = 32, max_waiting: int = 256, prefix_cache_tokens: int = 16384,
                 prefill_budget: int = 2048, multi_adapter: bool = False, speculative: bool = True,
                 draft_tokens: int = 4, chunk_tokens: int = 512, threads: int | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.stop_token_ids = set(stop_token_ids)
        self.stop_strings = tuple(stop_strings)  # end every reply, as a request's own `stop` does
        cfg = getattr(model.config, "text_config", None) or model.config
        self.max_model_len = int(max_model_len or getattr(cfg, "max_position_embeddings", 4096))
        self.max_batch, self.max_waiting, self.prefill_budget = max_batch, max_waiting, prefill_budget
        self.speculative, self.draft_tokens, self.chunk_tokens = speculative, draft_tokens, chunk_tokens
        self.device = next(model.parameters()).device
        self._cache_keyword = _cache_keyword(model)
        dtype = model.get_input_embeddings().weight.dtype  # the activations' (linears may hold fp16)
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        layer_types = getattr(cfg, "layer_types", None)
        sliding = getattr(cfg, "sliding_window", None) if layer_types and "sliding_attention" in layer_types else None
        self.cache = SlotCache(cfg.num_hidden_layers, cfg.num_key_value_heads, head_dim, dtype, self.device,
                               max_rows=max_batch, sliding_window=sliding,
                               layer_types=layer_types if sliding else None)
        self.prefix_cache = PrefixCache(max_tokens=prefix_cache_tokens)
        # With several LoRA adapters loaded, each row names its own (peft's mixed-batch forward);
        # otherwise the model runs as it is (merged, or with its one active adapter).
        self.adapter_names: set[str] = set(getattr(model, "peft_config", {}) or {}) if multi_adapter else set()
        # Decode steps skip transformers' forward glue where the architecture allows (fast_decode.py).
        self.fast = build_fast_decoder(model)  # None for peft models, so for several adapters too
        self._vocab = model.get_input_embeddings().num_embeddings
        self._waiting: deque[Sequence] = deque()
        self._running: list[Sequence] = []   # row i of the cache is _running[i]
        self._prefilling: list[Sequence] = []  # prompts being prefilled inside decode steps
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.threads = threads                # torch threads for the engine's own thread (None: as it is)
        self.generated_tokens = 0
        # Where the engine's time goes (seconds, tokens, steps), for /health and benchmarks.
        self.timing = {"prefill_s": 0.0, "prefill_tokens": 0, "decode_s": 0.0, "decode_steps": 0, "decode_rows": 0,
                       "draft_tokens": 0, "draft_accepted": 0, "chunked_prefill_tokens": 0}
        self._seeds = itertools.count(int(time.time() * 1000) % (2**31))

    @classmethod
    def for_template(cls, model, tokenizer, template, **kwargs) -> Engine:
        """An engine whose replies end where the template's turns end: EOS and the stop words
        that are one token by id, the others as text. What api, eval, chat and generate use."""
        from tooltune.templates.render import stop_strings, stop_token_ids

        return cls(model, tokenizer, stop_token_ids=stop_token_ids(tokenizer, template),
                   stop_strings=stop_strings(tokenizer, template), **kwargs)

    # ----------------------------------------------------------- public

    def start(self) -> Engine:
        """Run the loop on a thread of its own (`run` runs it in the caller's)."""
        with self._lock:
            if self._thread is None:
                self._stop.clear()  # a shut-down engine starts again (a new request calls start)
                self._thread = threading.Thread(target=self._loop, name="tooltune-engine", daemon=True)
                self._thread.start()
        return self

    def run(self, ready=None) -> None:
        """The loop in the calling thread, until `shutdown`; `ready()` is called once requests may
        be submitted. A thread that loaded the model and runs the loop decodes at the speed of the
        thread that owns torch's OpenMP team (see the class docstring): `LocalModel` does that."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the engine's loop is already running")
            self._stop.clear()
            self._thread = threading.current_thread()
        if ready is not None:
            ready()
        self._loop()

    def shutdown(self) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def submit(self, prompt_ids: list[int], params: SamplingParams, *, constraint: Constraint | None = None,
               adapter: str | None = None, start: bool = True, blocking: bool = False) -> RequestHandle:
        """Queue a request; raises EngineFull when too many are waiting. Thread-safe. The handle is
        iterated with `async for` when submitted inside an event loop, unless `blocking`."""
        try:  # here, not in the engine's thread: a request it cannot read would be lost there
            prompt = [int(t) for t in prompt_ids]
        except (TypeError, ValueError):
            raise TypeError(f"prompt_ids: a list of token ids, not {type(prompt_ids).__name__} "
                            "(apply_chat_template returns a dict unless told return_dict=False)") from None
        try:
            loop = None if blocking else asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        handle = RequestHandle(self._wake, loop)
        seed = params.seed if params.seed is not None else next(self._seeds)
        gen = torch.Generator(device="cpu").manual_seed(int(seed)) if params.temperature > 0 else None
        seq = Sequence(handle, prompt, params, constraint, adapter, gen,
                        IncrementalDetokenizer(self.tokenizer))
        with self._lock:
            if len(self._waiting) >= self.max_waiting:
                raise EngineFull(retry_after=max(1.0, len(self._waiting) / max(1, self.max_batch)))
            self._waiting.append(seq)
        self._wake()
        if start:
            self.start()
        return handle

    def generate_all(self, prompts: list[list[int]], params: SamplingParams | list[SamplingParams],
                     constraints: list[Constraint | None] | None = None, with_reasons: bool = False) -> list:
        """Every prompt's reply text, batched (for evaluation and scripts; blocks until done);
        `params` for all prompts, or one per prompt; `constraints` one per prompt (or None);
        `with_reasons`: (text, finish_reason) pairs, so a caller can tell a reply cut at max_tokens.
        Decodes in the caller's thread unless the engine's own is running (see the class docstring)."""
        each = params if isinstance(params, list) else [params] * len(prompts)
        held = constraints if constraints is not None else [None] * len(prompts)
        inline = self._thread is None
        handles = [self.submit(p, ps, constraint=c, start=not inline, blocking=True)
                   for p, ps, c in zip(prompts, each, held, strict=True)]
        if inline:
            try:
                with torch.inference_mode():
                    while self.step():
                        pass
            finally:
                self._abort_all()  # a failed step: the rest of the requests end, marked "abort"
        results = []
        for handle in handles:
            outs = list(handle)
            text = "".join(out.text for out in outs)
            results.append((text, outs[-1].finish_reason if outs else None) if with_reasons else text)
        return results

    def stats(self) -> EngineStats:
        return EngineStats(running=len(self._running) + len(self._prefilling), waiting=len(self._waiting),
                           max_batch=self.max_batch,
                           max_waiting=self.max_waiting, generated_tokens=self.generated_tokens,
                           prefix_cache_hits=self.prefix_cache.hits,
                           extra={k: round(v, 3) for k, v in self.timing.items()})

    # ------------------------------------------------------------ loop

    def _wake(self) -> None:
        self._wakeup.set()

    def _loop(self) -> None:
        if self.threads:
            torch.set_num_threads(self.threads)  # per thread: this one's OpenMP team
        while not self._stop.is_set():
            try:
                with torch.inference_mode():
                    if not self.step():
                        self._wakeup.wait(timeout=0.5)
                        self._wakeup.clear()
            except Exception:  # noqa: BLE001 - one bad step must not kill the server: fail its requests
                log.exception("engine step failed; aborting the running requests")
                self._abort_running()
        self._abort_all()

    def step(self) -> bool:
        """One turn of the loop, for a caller that drives the engine itself (tests, `generate_all`):
        drop cancelled requests, admit what fits, run one decode step for the whole batch (with
        prefill chunks of newcomers). False when there was nothing to run. Call it from one thread
        only, and only while the engine's own loop is not running."""
        self._drop_cancelled()
        self._admit()
        if not (self._running or self._prefilling):
            return False
        self._decode_step()
        return True

    def _abort_running(self) -> None:
        for seq in [*self._running, *self._prefilling]:
            seq.handle._push(Output("", "abort", len(seq.prompt), len(seq.generated)))
        self._running.clear()
        self._prefilling.clear()
        self.cache = SlotCache(self.cache.n_layers, self.cache.heads, self.cache.head_dim,
                               self.cache.dtype, self.cache.device, self.cache.max_rows,
                               self.cache.sliding_window, self.cache.layer_types)

    def _abort_all(self) -> None:
        if self._running or self._prefilling:
            self._abort_running()
        with self._lock:
            waiting, self._waiting = self._waiting, deque()
        for seq in waiting:
            seq.handle._push(Output("", "abort", len(seq.prompt), len(seq.generated)))

    def _drop_cancelled(self) -> None:
        with self._lock:
            if any(s.handle.cancelled.is_set() for s in self._waiting):
                self._waiting = deque(s for s in self._waiting if not s.handle.cancelled.is_set())
        self._prefilling = [s for s in self._prefilling if not s.handle.cancelled.is_set()]
        for row in reversed(range(len(self._running))):
            if self._running[row].handle.cancelled.is_set():
                self._remove(row)

    def _remove(self, row: int) -> None:
        self.cache.remove(row)
        last = self._running.pop()
        if row < len(self._running):
            self._running[row] = last

    def _admit(self) -> None:
        """Start waiting requests. With the lean forward their prompts are computed inside the
        decode steps (chunked prefill); otherwise they are prefilled in forwards of their own,
        several in one when that wastes little padding."""
        if self.fast is not None and self.chunk_tokens > 0:
            self._admit_into_steps()
            return
        budget = self.prefill_budget
        while len(self._running) < self.max_batch and budget > 0:
            group = self._take_group(min(self.max_batch - len(self._running), 16), budget)
            if not group:
                return
            budget -= sum(len(seq.prompt) - reuse[2] for seq, reuse in group)
            try:
                self._prefill(group)
            except Exception:  # noqa: BLE001 - retry one by one, so only a bad request fails
                log.exception("batched prefill failed; retrying its requests one at a time")
                for seq, reuse in group:
                    try:
                        self._prefill([(seq, reuse)])
                    except Exception:  # noqa: BLE001 - this request fails alone; the batch goes on
                        log.exception("prefill failed; aborting that request")
                        seq.handle._push(Output("", "abort", len(seq.prompt), len(seq.generated)))

    def _admit_into_steps(self) -> None:
        """Waiting requests become prompts the next decode steps compute, `chunk_tokens` a step in
        the same matmuls as the running rows. A prefill forward of their own would stall every
        running stream for a whole pass over the weights, mostly for a few new tokens each (the
        rest of a prompt is usually a cached prefix: system prompt, tool list)."""
        while len(self._running) + len(self._prefilling) < self.max_batch:
            with self._lock:
                if not self._waiting:
                    return
                seq = self._waiting[0]
            keys, values, reused = self.prefix_cache.lookup(seq.prompt, seq.adapter)  # a CachedPrefix
            if any(_common_prefix(seq.prompt, other.prompt) > reused + 32 for other in self._prefilling):
                return  # a prompt in progress will leave a longer prefix to reuse: wait for it
            with self._lock:
                if not self._waiting or self._waiting[0] is not seq:
                    return
                self._waiting.popleft()
            if not seq.prompt or not 0 <= min(seq.prompt) <= max(seq.prompt) < self._vocab:
                log.error("an empty prompt, or token ids outside the model's vocabulary; aborting that request")
                seq.handle._push(Output("", "abort", len(seq.prompt), 0))
                continue
            if not reused:
                c = self.cache
                keys = values = [torch.zeros(1, c.heads, 0, c.head_dim, dtype=c.dtype, device=c.device)] * c.n_layers
            seq.keys, seq.values, seq.cached_tokens = list(keys), list(values), reused
            self.prefix_cache.hits += bool(reused)
            self._prefilling.append(seq)

    def _next_chunks(self) -> list[PrefillChunk]:
        """This step's pieces of the prompts in progress: `chunk_tokens` in all, oldest first."""
        chunks, budget = [], self.chunk_tokens
        for seq in self._prefilling:
            if budget <= 0:
                break
            done = seq.keys[0].shape[-2]
            n = min(len(seq.prompt) - done, budget)
            chunks.append(PrefillChunk(seq.prompt[done:done + n], done, seq.keys, seq.values))
            budget -= n
        self.timing["chunked_prefill_tokens"] += self.chunk_tokens - budget
        return chunks

    def _finish_chunks(self, chunks: list[PrefillChunk]) -> None:
        """Prompts whose last piece just ran: sample their first token and join the decode rows."""
        # chunks[i] is a piece of _prefilling[i]: _next_chunks takes them in that order
        done = [(seq, c) for seq, c in zip(self._prefilling, chunks) if c.start + len(c.ids) == len(seq.prompt)]
        if not done:
            return
        seqs = [seq for seq, _ in done]
        tokens = sample_next(torch.stack([c.logits for _, c in done]), [s.params for s in seqs],
                             [s.generator for s in seqs], [s.constraint for s in seqs])
        for seq, token in zip(seqs, tokens):
            self._prefilling.remove(seq)
            self.prefix_cache.store(seq.prompt, seq.adapter, seq.keys, seq.values)
            if not self._append(seq, token):
                self.cache.add(seq.keys, seq.values)
                self._running.append(seq)
            seq.keys, seq.values = [], []  # the cache row (and the prefix cache) hold them now

    def _take_group(self, room: int, budget: int) -> list[tuple[Sequence, CachedPrefix]]:
        """Waiting requests to prefill together, each with its prefix-cache hit."""
        group, longest, real = [], 0, 0
        while len(group) < room:
            with self._lock:
                if not self._waiting:
                    break
                seq = self._waiting[0]
            hit = self.prefix_cache.lookup(seq.prompt, seq.adapter)
            new = len(seq.prompt) - hit.tokens
            if group:
                padded = (len(group) + 1) * max(longest, new)
                shares = any(_common_prefix(seq.prompt, g.prompt) > hit.tokens + 32 for g, _ in group)
                # Stop at: too much padding, the budget, or a prefix a group member is about to cache.
                if padded > 1.25 * (real + new) + 32 or real + new > budget or shares:
                    break
            with self._lock:
                if not self._waiting or self._waiting[0] is not seq:
                    break
                self._waiting.popleft()
            group.append((seq, hit))
            longest, real = max(longest, new), real + new
        return group

    def _forward(self, input_ids, position_ids, mask, cache, adapters: list[str] | None, keep: int = 1):
        """Logits of the last `keep` positions: ``[batch, vocab]`` when keep is 1, else ``[batch, keep, vocab]``."""
        kwargs = {}
        if adapters is not None:
            kwargs["adapter_names"] = adapters
        kwargs[self._cache_keyword] = cache
        out = self.model(input_ids=input_ids, position_ids=position_ids, attention_mask=mask,
                         use_cache=True, logits_to_keep=keep, **kwargs)
        return out.logits[:, -1, :].float() if keep == 1 else out.logits.float()

    def _adapter_list(self, seqs: list[Sequence]) -> list[str] | None:
        if not self.adapter_names:
            return None
        return [s.adapter if s.adapter in self.adapter_names else "__base__" for s in seqs]

    def _prefill(self, group: list[tuple[Sequence, CachedPrefix]]) -> None:
        """Run the prompts (minus cached prefixes) as one left-padded batch; sample each first
        token; join the decode batch. Row i is [pad | cached prefix_i | pad | new tokens_i]: the
        holes are masked and positions are explicit, so every row computes exactly its own prompt."""
        from transformers import DynamicCache

        started = time.perf_counter()
        seqs = [seq for seq, _ in group]
        hits = [hit for _, hit in group]
        reused = [hit.tokens for hit in hits]
        news = [len(seq.prompt) - n for seq, n in zip(seqs, reused)]
        n, past, width = len(seqs), max(reused), max(news)
        cache = DynamicCache()
        if past:
            longest = max(hits, key=lambda hit: hit.tokens)
            for layer in range(self.cache.n_layers):
                k0 = longest.keys[layer]  # [1, kv_heads, tokens, head_dim]
                k = k0.new_zeros(n, k0.shape[1], past, k0.shape[3])
                v = torch.zeros_like(k)
                for i, hit in enumerate(hits):  # right-aligned: every row's prefix ends at `past`
                    if hit.tokens:
                        k[i, :, past - hit.tokens:] = hit.keys[layer][0]
                        v[i, :, past - hit.tokens:] = hit.values[layer][0]
                cache.update(k, v, layer)
        ids = torch.zeros(n, width, dtype=torch.long)
        pos = torch.zeros(n, width, dtype=torch.long)
        mask = torch.zeros(n, past + width, dtype=torch.long)
        for i, (seq, p, m) in enumerate(zip(seqs, reused, news)):
            ids[i, width - m:] = torch.tensor(seq.prompt[p:])
            pos[i, width - m:] = torch.arange(p, p + m)
            mask[i, past - p:past] = 1
            mask[i, past + width - m:] = 1
        logits = self._forward(ids.to(self.device), pos.to(self.device),
                               None if n == 1 else mask.to(self.device), cache, self._adapter_list(seqs))
        tokens = sample_next(logits, [s.params for s in seqs], [s.generator for s in seqs],
                             [s.constraint for s in seqs])
        for i, (seq, p, m) in enumerate(zip(seqs, reused, news)):
            keys, values = [], []
            for layer in cache.layers[:self.cache.n_layers]:
                if n == 1:
                    keys.append(layer.keys)
                    values.append(layer.values)
                else:
                    cols = torch.cat([torch.arange(past - p, past), torch.arange(past + width - m, past + width)])
                    keys.append(layer.keys[i:i + 1, :, cols])
                    values.append(layer.values[i:i + 1, :, cols])
            self.prefix_cache.store(seq.prompt, seq.adapter, keys, values)
            self.prefix_cache.hits += bool(p)
            seq.cached_tokens = p
            if not self._append(seq, tokens[i]):
                self.cache.add(keys, values)
                self._running.append(seq)
        self.timing["prefill_s"] += time.perf_counter() - started
        self.timing["prefill_tokens"] += sum(news)

    def _decode_step(self) -> None:
        """One token for every running row (or a lone row's token and its drafts), plus the next
        pieces of the prompts being prefilled, in one forward."""
        cache, seqs = self.cache, self._running
        started = time.perf_counter()
        chunks = self._next_chunks() if self._prefilling else []
        if seqs:
            self.timing["decode_steps"] += 1
            self.timing["decode_rows"] += len(seqs)
        draft = self._draft(seqs[0]) if len(seqs) == 1 and not chunks else []
        if seqs:
            cache.prepare_step(1 + len(draft))
        ids = torch.tensor([[s.generated[-1], *draft] for s in seqs], dtype=torch.long,
                           device=self.device).reshape(len(seqs), 1 + len(draft))
        if self.fast is not None:
            try:
                logits = self.fast(ids, cache, keep=1 + len(draft), chunks=chunks)
            except Exception:
                if not chunks:
                    raise
                # The running rows must not go down with a prompt: drop this step's prompts, redo it.
                log.exception("a decode step with prefill chunks failed; aborting those requests")
                for seq in self._prefilling[:len(chunks)]:
                    seq.handle._push(Output("", "abort", len(seq.prompt), 0))
                del self._prefilling[:len(chunks)]
                chunks = []
                if not seqs:
                    return
                logits = self.fast(ids, cache, keep=1 + len(draft))
            logits = logits[:, -1] if not draft else logits
        else:
            logits = self._forward(ids, cache.positions(), cache.attention_mask(), cache,
                                   self._adapter_list(seqs), keep=1 + len(draft))
        if draft:
            self._accept_draft(seqs[0], draft, logits[0])
        elif seqs:
            cache.advance()
            tokens = sample_next(logits, [s.params for s in seqs], [s.generator for s in seqs],
                                 [s.constraint for s in seqs])
            for row in reversed(range(len(seqs))):
                if self._append(seqs[row], tokens[row]):
                    self._remove(row)
        if chunks:
            self._finish_chunks(chunks)
        self.timing["decode_s"] += time.perf_counter() - started

    # ------------------------------------------------- speculative decoding

    def _draft(self, seq: Sequence) -> list[int]:
        """Prompt-lookup drafts for a lone greedy request: the tokens that followed the last
        occurrence of its newest n-gram earlier in the prompt or reply (tool names, arguments
        copied from the user's words, JSON keys). One forward checks them all and a draft is kept
        only if it is the model's own argmax, so the reply is the greedy one. Measured on SmolLM2
        (fp32, 2-core CPU, before packed weights): a tool-call reply 16.9 -> 22.7 tok/s, plain chat
        -1%; a step checking 5 tokens costs ~1.3 plain ones, so a refused draft pauses drafting.
        Batches of 2+ rows are left alone: their step is compute-bound already."""
        if not self.speculative or seq.params.temperature > 0 or seq.constraint is not None:
            return []
        if seq.draft_pause:  # a refused draft costs ~1.3 plain steps: free-form text rarely repeats
            seq.draft_pause -= 1
            return []
        room = min(self.draft_tokens, seq.params.max_tokens - len(seq.generated) - 1,
                   self.max_model_len - len(seq.prompt) - len(seq.generated) - 1)
        if room <= 0:
            return []
        return prompt_lookup(seq.prompt + seq.generated, room)

    def _accept_draft(self, seq: Sequence, draft: list[int], logits: torch.Tensor) -> None:
        """Keep the drafts the model agrees with, plus the model's own next token after them."""
        predicted = logits.argmax(dim=-1).tolist()   # predicted[j]: the token after fed token j
        kept = 0
        while kept < len(draft) and draft[kept] == predicted[kept]:
            kept += 1
        self.cache.advance(kept + 1)
        seq.draft_backoff = 0 if kept else min(2 * seq.draft_backoff or 1, 16)
        seq.draft_pause = seq.draft_backoff
        self.timing["draft_tokens"] += len(draft)
        self.timing["draft_accepted"] += kept
        for token in predicted[:kept + 1]:
            if self._append(seq, token):
                self._remove(0)
                return

    # ------------------------------------------------------- one token

    def _append(self, seq: Sequence, token: int) -> bool:
        """Take a sampled token into `seq` (which sends what became visible); True when it is finished."""
        self.generated_tokens += 1
        return seq.take(token, self.stop_token_ids, self.stop_strings, self.max_model_len)


def _cache_keyword(model) -> str:
    """transformers 5.24 renamed forward's `past_key_values` to `cache` (the old name warns and
    goes away in 5.40); earlier 5.x only know the old one."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
