"""The batched tokenization engine: rendered pieces of a whole batch -> token ids, one tokenizer call.

Two modes (``PreprocessConfig.tokenization``):

- ``segments``: every piece is encoded on its own with ``add_special_tokens=False`` and special pieces
  are looked up with ``convert_tokens_to_ids``. This is what LLaMA-Factory does with each slot element,
  so the ids are LLaMA-Factory's.
- ``whole``: the concatenated text of a row is encoded once, with offsets; each token is attributed to
  the piece its characters come from. The ids equal ``tokenizer.apply_chat_template(tokenize=True)``
  (which encodes the rendered text with ``add_special_tokens=False``).

Speed. A chat template writes the same text again and again (headers, the default system prompt,
"\\n" between turns). Re-tokenizing it for every row is wasted work, so the engine caches the ids of
repeated text. Two tiers, chosen per tokenizer:

1. *exact* (every tokenizer): a piece's ids depend only on the piece's text, so whole pieces are cached
   and the remaining unique piece texts of a batch go through ONE batched call.
2. *split* (verified tokenizers only): a Hugging Face tokenizer first cuts its input at *added tokens*
   (``<|im_start|>``, ``<|im_end|>`` ...) and encodes the text between them independently. So a piece
   can be cut at added tokens, the constant parts (``"\\n"``, ``"assistant\\n"``) served from the cache,
   and only the text that really varies encoded: all the varying chunks of a row are joined with an
   added token as separator into one string per row (the separator cannot merge with anything), the
   batch is encoded with ``encode_batch_fast`` and the ids are cut at the separator again.
   This is exact only when the text between added tokens is encoded independently of its position.
   That is false for SentencePiece/Metaspace tokenizers with ``prepend_scheme="first"`` (llama-2,
   mistral: ``"[INST]"`` alone gets a ``▁`` prefix, after ``<s>`` it does not) and for added tokens
   that strip neighbouring whitespace (``lstrip``/``rstrip``/``single_word``) or that match after
   normalization. ``profile_tokenizer`` reads the backend's configuration, rejects those, and then
   runs a probe comparing the split path with ``tokenizer.encode`` on tricky strings; any difference
   disables the tier. Property tests (hypothesis) check the equality on arbitrary text.
"""

from __future__ import annotations

import dataclasses
import json
import re
import weakref
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import TokenizerError
from ..templates.base import Piece

Mode = Literal["segments", "whole"]
MODES: tuple[str, ...] = ("segments", "whole")


@dataclass(slots=True)
class EncodedRow:
    """The token ids of one rendered row and which tokens belong to which piece.

    ``bounds`` has ``len(pieces) + 1`` entries: the tokens of piece ``k`` are ``ids[bounds[k]:bounds[k+1]]``.
    In ``whole`` mode a token that spans two pieces is attributed to one of them (a trainable one when
    it overlaps any), so a piece may own no token at all.
    """

    ids: list[int]
    bounds: list[int]

    def piece_ids(self, k: int) -> list[int]:
        return self.ids[self.bounds[k] : self.bounds[k + 1]]


@dataclass(frozen=True)
class TokenizerProfile:
    """What the engine may do with a tokenizer; computed once by ``profile_tokenizer``.

    - ``backend``: encode through the Rust backend directly (checked to give ``tokenizer.encode``'s ids);
    - ``split_exact``: cutting text at added tokens gives the same ids (the *split* tier);
    - ``reason``: why ``split_exact`` is False (shown by ``describe``);
    - ``added``: the added tokens' strings; ``sep`` / ``sep_id``: the separator used to join chunks;
    - ``ascii_unnormalized``: the normalizer is only Unicode normalization (NFC/NFD/NFKC/NFKD), which
      leaves ASCII text unchanged, so pure-ASCII text may skip it (see ``TokenizerEngine``).
    """

    backend: bool
    split_exact: bool
    reason: str
    added: tuple[str, ...] = ()
    added_ids: tuple[int, ...] = ()
    sep: str | None = None
    sep_id: int | None = None
    ascii_unnormalized: bool = False

    def describe(self) -> str:
        how = ("split at added tokens, constant text cached (verified exact)" if self.split_exact
               else f"exact per-piece encoding with a piece cache ({self.reason})")
        if self.ascii_unnormalized:
            how += "; ASCII text skips the Unicode normalizer"
        return how


def _backend(tokenizer: Any) -> Any | None:
    return getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None


def _component_json(component: Any) -> Any:
    """The JSON configuration of a tokenizers normalizer / pre-tokenizer (None when absent)."""
    if component is None:
        return None
    try:
        return json.loads(component.__getstate__())
    except Exception:  # an unknown component: treat as opaque, the probe decides
        return {"type": type(component).__name__}


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every configuration dict in a (possibly nested ``Sequence``) component."""
    if isinstance(node, dict):
        found = [node]
        for value in node.values():
            found.extend(_walk(value))
        return found
    if isinstance(node, list):
        return [d for item in node for d in _walk(item)]
    return []


#: Strings the probe feeds through both paths; they exercise the places where position or context
#: could change a tokenizer's output (leading spaces and newlines, combining characters, digits,
#: punctuation, text glued to added tokens).
_PROBE_TEXTS: tuple[str, ...] = (
    "Hello world", " leading space", "  two spaces", "\nnewline first", "\n\n", "trailing space ", "tab\tstop",
    "e\u0301 combining", "\u0301starts with a combining mark", "Café naïve", "数字123456789", "emoji 😀🚀",
    "[INST] x [/INST]", "user\n", "assistant\n", "a.b,c;d", "'s 've 're", "    indented code\n\treturn 1",
)


#: tokenizer -> (state key, profile): profiles are computed once per tokenizer object and state
_PROFILES: weakref.WeakKeyDictionary[Any, tuple[Any, TokenizerProfile]] = weakref.WeakKeyDictionary()


def _state_key(tokenizer: Any, *extra: Any) -> Any:
    """What a cached profile depends on: the vocabulary size and the added tokens (fix_tokenizer changes them)."""
    backend = _backend(tokenizer)
    added = tuple(sorted((i, t.content) for i, t in backend.get_added_tokens_decoder().items())) if backend else ()
    return (len(tokenizer), added, bool(getattr(tokenizer, "split_special_tokens", False)), *extra)


def profile_tokenizer(tokenizer: Any, *, allow_split: bool = True) -> TokenizerProfile:
    """Decide how ``tokenizer`` may be used (see the module docstring); cheap, no network, cached per
    tokenizer object (recomputed when its vocabulary or added tokens change)."""
    try:
        key = _state_key(tokenizer, allow_split)
        cached = _PROFILES.get(tokenizer)
    except TypeError:  # not weak-referenceable
        return _profile(tokenizer, allow_split)
    if cached is not None and cached[0] == key:
        return cached[1]
    profile = _profile(tokenizer, allow_split)
    _PROFILES[tokenizer] = (key, profile)
    return profile


def _profile(tokenizer: Any, allow_split: bool) -> TokenizerProfile:
    backend = _backend(tokenizer)
    if backend is None:
        return TokenizerProfile(False, False, "not a fast (Rust) tokenizer")
    use_backend = _backend_matches(tokenizer, backend)
    added_map = {tok.content: idx for idx, tok in backend.get_added_tokens_decoder().items()}
    added = tuple(sorted(added_map, key=len, reverse=True))
    added_ids = tuple(added_map[t] for t in added)
    ascii_ok = use_backend and allow_split and _only_unicode_normalization(backend)
    reason = _split_blocker(tokenizer, backend) if allow_split else "disabled"
    if reason is None and not use_backend:
        reason = "the tokenizer class post-processes the backend's ids"
    if reason is None and not added:
        reason = "the tokenizer has no added tokens to split at"
    if reason is not None:
        return TokenizerProfile(use_backend, False, reason, added, added_ids, ascii_unnormalized=ascii_ok)
    specials = [t for t in added if tokenizer.convert_tokens_to_ids(t) == added_map[t]]
    sep = min(specials or list(added), key=len)
    profile = TokenizerProfile(True, True, "", added, added_ids, sep, added_map[sep])
    mismatch = _probe(tokenizer, profile)
    if mismatch is not None:
        return TokenizerProfile(True, False, f"probe mismatch on {mismatch!r}", added, added_ids,
                                ascii_unnormalized=ascii_ok)
    return dataclasses.replace(profile, ascii_unnormalized=ascii_ok)


_UNICODE_FORMS = frozenset({"NFC", "NFD", "NFKC", "NFKD"})


def _only_unicode_normalization(backend: Any) -> bool:
    """True when the normalizer exists and is only NFC/NFD/NFKC/NFKD (identity on ASCII text)."""
    config = _component_json(backend.normalizer)
    if not config:
        return False
    nodes = [n for n in _walk(config) if "type" in n]
    return all(n["type"] in _UNICODE_FORMS or n["type"] == "Sequence" for n in nodes) and any(
        n["type"] in _UNICODE_FORMS for n in nodes)


def _backend_matches(tokenizer: Any, backend: Any) -> bool:
    """Whether ``backend.encode`` gives ``tokenizer.encode``'s ids (a Python subclass could change them)."""
    texts = list(_PROBE_TEXTS)
    try:
        _reset_backend(tokenizer, backend)
        direct = [e.ids for e in backend.encode_batch_fast(texts, add_special_tokens=False)]
        wrapped = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
    except Exception:
        return False
    return direct == wrapped


def _split_blocker(tokenizer: Any, backend: Any) -> str | None:
    """Why splitting at added tokens could change ids, from the backend's configuration (None: no reason)."""
    if getattr(tokenizer, "split_special_tokens", False):
        return "split_special_tokens is on"
    for node in _walk(_component_json(backend.pre_tokenizer)):
        if node.get("type") == "Metaspace" and node.get("prepend_scheme", "always") == "first":
            return "SentencePiece/Metaspace prefix space depends on the position (prepend_scheme='first')"
    normalizer = backend.normalizer
    for tok in backend.get_added_tokens_decoder().values():
        if tok.lstrip or tok.rstrip or tok.single_word:
            return f"added token {tok.content!r} strips neighbouring whitespace"
        if tok.normalized and normalizer is not None:
            return f"added token {tok.content!r} is matched after normalization"
    return None


def _probe(tokenizer: Any, profile: TokenizerProfile) -> str | None:
    """Compare the split path with ``tokenizer.encode`` on probe strings; return the first mismatch."""
    specials = list(profile.added[:8]) or [""]
    texts: list[str] = list(_PROBE_TEXTS)
    for i, text in enumerate(_PROBE_TEXTS):
        sp = specials[i % len(specials)]
        texts += [f"{text}{sp}{text}", f"{sp}{text}", f"{text}{sp}", f"{sp} {text}{sp}\n{sp}"]
    engine = TokenizerEngine(tokenizer, profile=profile)
    got = [row.ids for row in engine.encode_pieces([[Piece(t)] for t in texts], mode="segments")]
    for text, ids in zip(texts, got, strict=False):
        if ids != tokenizer.encode(text, add_special_tokens=False):
            return text
    return None


def _reset_backend(tokenizer: Any, backend: Any) -> None:
    """Undo truncation / padding a previous ``tokenizer(...)`` call may have left on the backend.

    transformers sets both before every call it makes, so clearing them here cannot disturb it.
    """
    if backend.truncation is not None:
        backend.no_truncation()
    if backend.padding is not None:
        backend.no_padding()
    split = bool(getattr(tokenizer, "split_special_tokens", False))
    if backend.encode_special_tokens != split:
        backend.encode_special_tokens = split


class _Cache:
    """text -> ids for text seen at least twice (constant template text, repeated system prompts).

    The first sighting only records the text's hash; the second caches its ids. Unique content thus
    costs one integer in a set and keeps no string alive. Both containers are cleared when full, after
    which constant text is cached again within two rows, so memory stays bounded whatever the data.
    """

    __slots__ = ("data", "seen", "limit", "max_chars")

    def __init__(self, limit: int, max_chars: int):
        self.data: dict[str, list[int]] = {}
        self.seen: set[int] = set()
        self.limit = limit
        self.max_chars = max_chars

    def wants(self, text: str) -> bool:
        """True when ``text`` should be cached now (its second sighting)."""
        if len(text) > self.max_chars:
            return False
        key = hash(text)
        if key in self.seen:
            return True
        if len(self.seen) >= 8 * self.limit:
            self.seen.clear()
        self.seen.add(key)
        return False

    def put(self, text: str, ids: list[int]) -> None:
        if len(self.data) >= self.limit:
            self.data.clear()
        self.data[text] = ids


class TokenizerEngine:
    """Encodes the rendered pieces of a batch of rows with one batched tokenizer call.

    Picklable: caches and compiled patterns are rebuilt in each process (``datasets.map(num_proc=N)``
    workers, Ray actors). Cached id lists are shared: callers must not mutate what they get back except
    through ``EncodedRow`` (whose ``ids`` list is always fresh).

    What it does to the caller's tokenizer (its Rust backend), none of which changes any id:

    - clears truncation / padding left on the backend by an earlier ``tokenizer(...)`` call (transformers
      sets both again before each of its own calls);
    - switches the normalizer off for the duration of one batched call on pure-ASCII texts, restored in
      a ``finally`` (so also on errors and interrupts); another *thread* using the same tokenizer during
      that call would see no normalizer, so do not share one tokenizer between threads while it encodes;
    - enlarges the BPE word cache (``BPE_CACHE_WORDS``) until ``release``.
    """

    #: words the Rust BPE model keeps in its own cache (tokenizers' default: 10,000, after which it stops
    #: caching). Corpora have far more distinct words; a larger cache saved 5-12 % of the encoding time on
    #: alpaca-like data and never changes ids (the cache maps a word to its own merges; BPE dropout
    #: bypasses it). It is applied to the caller's tokenizer (its backend) in every process and costs
    #: memory there: a few MB on natural text, up to a few hundred MB per process on text with hundreds
    #: of thousands of distinct words. ``release`` gives the tokenizer its default cache back.
    BPE_CACHE_WORDS = 262_144
    #: tokenizers' own BPE cache size (``DEFAULT_CACHE_CAPACITY``), what ``release`` restores
    DEFAULT_BPE_CACHE_WORDS = 10_000

    def __init__(self, tokenizer: Any, *, profile: TokenizerProfile | None = None, fast: bool = True,
                 cache_size: int = 8192):
        self.tokenizer = tokenizer
        self.profile = profile if profile is not None else profile_tokenizer(tokenizer, allow_split=fast)
        self.cache_size = cache_size
        self._setup()

    # -- pickling: drop process-local state ------------------------------------------------------------------

    def _setup(self) -> None:
        self._pieces = _Cache(self.cache_size, 8192)
        self._chunks = _Cache(self.cache_size, 1024)
        self._special: dict[str, list[int]] = {}
        p = self.profile
        self._splitter = (
            re.compile("(" + "|".join(re.escape(t) for t in p.added) + ")") if p.split_exact and p.added else None
        )
        self._added_ids = {t: [i] for t, i in zip(p.added, p.added_ids, strict=False)}
        self._resize_bpe_cache(self.BPE_CACHE_WORDS)
        # whether pure-ASCII text may skip the backend's Unicode normalizer (checked on first use)
        self._ascii_ok: bool | None = None if self.profile.ascii_unnormalized else False

    def _resize_bpe_cache(self, words: int) -> None:
        resize = getattr(getattr(_backend(self.tokenizer), "model", None), "_resize_cache", None)
        if resize is not None:
            try:
                resize(words)
            except Exception:  # an older tokenizers: keep its cache as it is
                pass

    def release(self) -> None:
        """Give the tokenizer back tokenizers' default BPE cache size (the larger cache is dropped, its
        memory free for reuse by the process, though the allocator may keep it in the process's RSS).

        ``preprocess_dataset`` calls it once a ``Dataset`` is done, whatever happened. The engine still
        works afterwards (with the smaller cache); ids never depend on the cache size.
        """
        self._resize_bpe_cache(self.DEFAULT_BPE_CACHE_WORDS)

    def _ascii_skip_ok(self, backend: Any) -> bool:
        """Whether ASCII texts may be encoded with the normalizer switched off.

        NFC/NFD/NFKC/NFKD leave ASCII unchanged, so the ids are the same by construction; it is still
        checked once on the ASCII probe strings. Skipping the normalizer saves about a seventh of the
        encoding time on Qwen-family tokenizers.
        """
        if self._ascii_ok is None:
            probes = [t for t in _PROBE_TEXTS if t.isascii()] + [f"{p} x y\n" for p in self.profile.added[:4]]
            expected = [e.ids for e in backend.encode_batch_fast(probes, add_special_tokens=False)]
            try:
                got = self._without_normalizer(backend, probes)
            except Exception:
                got = None
            self._ascii_ok = got == expected
        return self._ascii_ok

    @staticmethod
    def _without_normalizer(backend: Any, texts: list[str]) -> list[list[int]]:
        """Encode ``texts`` with the backend's normalizer switched off for the call, then restored.

        (The backend is the caller's tokenizer's; transformers itself re-sets truncation and padding on it
        before every call, so, like those, this is not for concurrent use of one tokenizer by threads.)
        """
        saved = backend.normalizer
        backend.normalizer = None
        try:
            return [e.ids for e in backend.encode_batch_fast(texts, add_special_tokens=False)]
        finally:
            backend.normalizer = saved

    def __getstate__(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer, "profile": self.profile, "cache_size": self.cache_size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    # -- plain text ----------------------------------------------------------------------------------------------

    def encode_texts(self, texts: list[str]) -> list[list[int]]:
        """``tokenizer(texts, add_special_tokens=False)["input_ids"]`` in one batched call (two when a
        batch mixes pure-ASCII texts, encoded without the Unicode normalizer, with other texts)."""
        if not texts:
            return []
        if self.profile.backend:
            backend = self.tokenizer.backend_tokenizer
            _reset_backend(self.tokenizer, backend)
            if not (self._ascii_ok is not False and self._ascii_skip_ok(backend)):
                return [e.ids for e in backend.encode_batch_fast(texts, add_special_tokens=False)]
            ascii_at = [i for i, t in enumerate(texts) if t.isascii()]
            if len(ascii_at) == len(texts):
                return self._without_normalizer(backend, texts)
            out: list[list[int]] = [[] for _ in texts]
            if ascii_at:
                for i, ids in zip(ascii_at, self._without_normalizer(backend, [texts[i] for i in ascii_at]),
                                  strict=True):
                    out[i] = ids
            others = [i for i, t in enumerate(texts) if not t.isascii()]
            for i, e in zip(others, backend.encode_batch_fast([texts[i] for i in others], add_special_tokens=False),
                            strict=True):
                out[i] = e.ids
            return out
        return list(self.tokenizer(texts, add_special_tokens=False)["input_ids"])

    def encode_with_offsets(self, texts: list[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Ids and character offsets of each text, in one batched call (needs a fast tokenizer)."""
        if not texts:
            return []
        if self.profile.backend:
            backend = self.tokenizer.backend_tokenizer
            _reset_backend(self.tokenizer, backend)
            return [(e.ids, e.offsets) for e in backend.encode_batch(texts, add_special_tokens=False)]
        if not getattr(self.tokenizer, "is_fast", False):
            raise TokenizerError(
                "tokenization 'whole' needs a fast tokenizer (character offsets); this one is "
                f"{type(self.tokenizer).__name__}. Use tokenization: segments."
            )
        enc = self.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
        return [(list(i), [tuple(o) for o in off]) for i, off in zip(enc["input_ids"], enc["offset_mapping"], strict=False)]

    def special_ids(self, token: str) -> list[int]:
        """``[convert_tokens_to_ids(token)]``; a TokenizerError when the tokenizer does not know the token."""
        ids = self._special.get(token)
        if ids is None:
            idx = self.tokenizer.convert_tokens_to_ids(token)
            unk = getattr(self.tokenizer, "unk_token_id", None)
            if idx is None or (idx == unk and token != getattr(self.tokenizer, "unk_token", None)):
                raise TokenizerError(
                    f"the template writes the special token {token!r}, which the tokenizer does not have; "
                    "pick the template that matches the tokenizer, or run fix_tokenizer(tokenizer, template) first"
                )
            ids = self._special[token] = [idx]
        return ids

    # -- pieces --------------------------------------------------------------------------------------------------

    def encode_pieces(self, rows: Sequence[Sequence[Piece]], mode: Mode = "segments") -> list[EncodedRow]:
        """Encode a batch of rendered rows (see the module docstring for the two modes)."""
        if mode == "segments":
            if self._splitter is not None:
                return self._segments_split(rows)
            return self._segments_exact(rows)
        if mode == "whole":
            return self._whole(rows)
        raise ValueError(f"unknown tokenization mode {mode!r}; expected one of {', '.join(MODES)}")

    def _segments_exact(self, rows: Sequence[Sequence[Piece]]) -> list[EncodedRow]:
        cache = self._pieces.data
        plans: list[list[list[int] | str]] = []
        pending: dict[str, int] = {}
        for pieces in rows:
            plan: list[list[int] | str] = []
            for p in pieces:
                if p.special:
                    plan.append(self.special_ids(p.text))
                    continue
                ids = cache.get(p.text)
                if ids is None:
                    pending.setdefault(p.text, len(pending))
                    plan.append(p.text)
                else:
                    plan.append(ids)
            plans.append(plan)
        texts = list(pending)
        encoded = self.encode_texts(texts)
        for text, ids in zip(texts, encoded, strict=False):
            if self._pieces.wants(text):
                self._pieces.put(text, ids)
        out: list[EncodedRow] = []
        for plan in plans:
            ids_out: list[int] = []
            bounds = [0]
            for item in plan:
                ids_out += encoded[pending[item]] if isinstance(item, str) else item
                bounds.append(len(ids_out))
            out.append(EncodedRow(ids_out, bounds))
        return out

    def _segments_split(self, rows: Sequence[Sequence[Piece]]) -> list[EncodedRow]:
        piece_cache = self._pieces.data
        chunk_cache = self._chunks.data
        added_ids = self._added_ids
        split = self._splitter.split  # type: ignore[union-attr]
        sep = self.profile.sep
        # plan item per piece: a complete id list, or a list of parts (id lists, or int k = the k-th
        # varying chunk of the row, filled after the batched call)
        plans: list[list[Any]] = []
        strings: list[str] = []
        counts: list[int] = []
        for pieces in rows:
            chunks: list[str] = []
            plan: list[Any] = []
            for p in pieces:
                text = p.text
                if p.special:
                    plan.append(self.special_ids(text))
                    continue
                ids = piece_cache.get(text)
                if ids is not None:
                    plan.append(ids)
                    continue
                parts: list[Any] = []
                for j, part in enumerate(split(text)):
                    if j % 2:  # an added token
                        parts.append(added_ids[part])
                    elif part:
                        cached = chunk_cache.get(part)
                        if cached is None:
                            parts.append(len(chunks))
                            chunks.append(part)
                        else:
                            parts.append(cached)
                plan.append((text, parts))
            plans.append(plan)
            strings.append(sep.join(chunks))  # type: ignore[union-attr]
            counts.append(len(chunks))
        todo = [i for i, n in enumerate(counts) if n]
        encoded = self.encode_texts([strings[i] for i in todo])
        per_row: dict[int, list[list[int]]] = {}
        for i, ids in zip(todo, encoded, strict=False):
            per_row[i] = self._cut(ids, counts[i], strings[i])
        out: list[EncodedRow] = []
        for i, plan in enumerate(plans):
            chunk_ids = per_row.get(i)
            if chunk_ids is not None:
                chunks_cache = self._chunks
                chunk_texts = strings[i].split(sep) if counts[i] > 1 else [strings[i]]
                for text, ids in zip(chunk_texts, chunk_ids, strict=False):
                    if chunks_cache.wants(text):
                        chunks_cache.put(text, ids)
            ids_out: list[int] = []
            bounds = [0]
            for item in plan:
                if isinstance(item, tuple):
                    text, parts = item
                    start = len(ids_out)
                    for part in parts:
                        ids_out += chunk_ids[part] if isinstance(part, int) else part  # type: ignore[index]
                    if self._pieces.wants(text):
                        self._pieces.put(text, ids_out[start:])
                else:
                    ids_out += item
                bounds.append(len(ids_out))
            out.append(EncodedRow(ids_out, bounds))
        return out

    def _cut(self, ids: list[int], n: int, text: str) -> list[list[int]]:
        """Cut the ids of ``n`` chunks joined by the separator back into one list per chunk."""
        sep_id = self.profile.sep_id
        out: list[list[int]] = []
        start = 0
        try:
            for _ in range(n - 1):
                end = ids.index(sep_id, start)
                out.append(ids[start:end])
                start = end + 1
        except ValueError:
            out = []
        out.append(ids[start:])
        if len(out) != n or sep_id in out[-1]:  # cannot happen for a verified tokenizer; stay exact anyway
            return self.encode_texts(text.split(self.profile.sep))  # type: ignore[arg-type]
        return out

    def _whole(self, rows: Sequence[Sequence[Piece]]) -> list[EncodedRow]:
        texts: list[str] = []
        starts_per_row: list[list[int]] = []
        for pieces in rows:
            starts = []
            pos = 0
            for p in pieces:
                starts.append(pos)
                pos += len(p.text)
            starts_per_row.append(starts)
            texts.append("".join(p.text for p in pieces))
        out: list[EncodedRow] = []
        for pieces, starts, (ids, offsets) in zip(rows, starts_per_row, self.encode_with_offsets(texts), strict=False):
            out.append(EncodedRow(list(ids), _owners_to_bounds(pieces, starts, offsets)))
        return out


def _owners_to_bounds(pieces: Sequence[Piece], starts: list[int], offsets: Sequence[tuple[int, int]]) -> list[int]:
    """Attribute each token to a piece by its characters; return the piece bounds.

    A token inside one piece belongs to it. A token spanning several pieces belongs to the first
    trainable one among them (so, as with ``apply_chat_template``'s assistant mask, a token that
    overlaps a trained span is trained), else to the piece where it starts.
    """
    n_pieces = len(pieces)
    counts = [0] * n_pieces
    owner_floor = 0
    for s, e in offsets:
        first = bisect_right(starts, s) - 1
        last = bisect_right(starts, max(e - 1, s)) - 1
        owner = first
        if last != first:
            owner = next((k for k in range(first, last + 1) if pieces[k].trainable and pieces[k].text), first)
        owner = max(owner, owner_floor, 0)
        owner_floor = owner
        if owner < n_pieces:
            counts[owner] += 1
    bounds = [0]
    for c in counts:
        bounds.append(bounds[-1] + c)
    return bounds


def encode_pieces(rows: Sequence[Sequence[Piece]], tokenizer: Any, *, mode: Mode = "segments",
                  engine: TokenizerEngine | None = None) -> list[EncodedRow]:
    """Encode the rendered pieces of a batch of rows with one batched tokenizer call.

    Pass an ``engine`` (``TokenizerEngine(tokenizer)``) when encoding many batches, so the tokenizer
    profile is computed once and constant template text is served from its cache.
    """
    engine = engine if engine is not None else TokenizerEngine(tokenizer)
    return engine.encode_pieces(rows, mode)
