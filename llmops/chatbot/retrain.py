"""Retrain the reference chatbot from feedback: a new version whose knowledge base takes in the
corrected answers (`expected`) of feedback records.

For each valid record with an `expected` answer (read with the feedback module's reader and
schema, text redacted):

- if its prompt is a near-duplicate of a question of the topic the bot retrieves for it, that
  topic's answer becomes the expected one (no duplicate topic), and the prompt joins its questions;
- otherwise a new topic is added whose question is the prompt and whose answer is the expected one.

Prompts the policy refuses (account data, other customers' data, injection) are skipped: the
knowledge base never answers them. Bad records are reported as `FILE: record N: why` and skipped.
The new version (`<versions dir>/<to>.yaml`, with its knowledge base in `<to>.kb.yaml`) records
the feedback ids it used; the base version is never changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from llmops.chatbot.knowledge import KnowledgeBase, Topic, kb_to_doc, load_kb
from llmops.chatbot.policy import classify
from llmops.chatbot.text import tokenize
from llmops.chatbot.versions import NAME, VersionSpec, builtin_names, load_version
from llmops.errors import InputError
from llmops.fileio import write_atomic

#: A prompt this similar (Jaccard of its words) to a known question is that question.
SAME_QUESTION = 0.6


@dataclass
class RetrainResult:
    version: VersionSpec
    path: Path
    kb_path: Path
    added: list[str] = field(default_factory=list)  # new topic ids
    updated: list[str] = field(default_factory=list)  # existing topic ids given a new answer
    used: list[str] = field(default_factory=list)  # feedback ids learnt from
    invalid: list[str] = field(default_factory=list)  # `FILE: record N: why`: bad records
    ignored: list[str] = field(default_factory=list)  # `FILE: record N: why`: valid, not usable


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "topic"


def _same_question(kb: KnowledgeBase, prompt: str) -> Topic | None:
    """The topic holding `prompt` (or a near-duplicate of it) as a question, if retrieved."""
    match = kb.search(prompt)
    if match is None:
        return None
    if match.exact:
        return match.topic
    words = set(tokenize(prompt))
    best = max(_jaccard(words, set(tokenize(q))) for q in match.topic.questions)
    return match.topic if best >= SAME_QUESTION else None


def learn(kb: KnowledgeBase, prompt: str, expected: str, feedback_id: str,
          taken: set[str]) -> tuple[KnowledgeBase, str, bool]:
    """`kb` with the answer to `prompt` set to `expected`: (new kb, topic id, whether new)."""
    topics = list(kb.topics)
    same = _same_question(kb, prompt)
    if same is not None:
        questions = same.questions
        if " ".join(prompt.split()).lower() not in (q.lower() for q in questions):
            questions = (*questions, " ".join(prompt.split()))
        updated = replace(same, answer=expected, questions=questions,
                          source=(*same.source, feedback_id))
        topics[topics.index(same)] = updated
        topic_id, new = same.id, False
    else:
        slug = _slug(feedback_id)
        base = slug if slug.startswith(("fb-", "ev-")) else f"fb-{slug}"
        topic_id, n = base, 2
        while topic_id in taken:
            topic_id, n = f"{base}-{n}", n + 1
        title = " ".join(prompt.split())
        topics.append(Topic(
            id=topic_id,
            title=title if len(title) <= 60 else title[:59] + "…",
            questions=(" ".join(prompt.split()),),
            answer=expected,
            source=(feedback_id,),
        ))
        taken.add(topic_id)
        new = True
    return KnowledgeBase(kb.path, dict(kb.bank), dict(kb.responses), topics), topic_id, new


def retrain(
    feedback: Path,
    *,
    base: str = "v1",
    target: str = "v3",
    out_dir: Path,
    force: bool = False,
    extra_dirs: tuple[Path, ...] = (),
) -> RetrainResult:
    """Build version `target` = `base` + what the feedback in `feedback` corrects; write it to
    `out_dir` (atomically) and return what was learnt and skipped."""
    from llmops.chatbot.guard import make_guard
    from llmops.feedback.ingest import read_records
    from llmops.feedback.records import errors, normalise, utc_now

    if not NAME.match(target):
        raise InputError(f"bad version name {target!r}: use letters, digits, '.', '_' or '-'")
    if target in builtin_names():
        raise InputError(f"{target} is a built-in version: choose another name (e.g. v3)")
    out_dir = Path(out_dir)
    path, kb_path = out_dir / f"{target}.yaml", out_dir / f"{target}.kb.yaml"
    if path.exists() and not force:
        raise InputError(f"{path}: version {target} exists (use --force to replace it)")
    spec = load_version(base, extra_dirs=(out_dir, *extra_dirs))
    kb = load_kb(spec.kb)
    redact = make_guard(kb.public_values)
    taken = {t.id for t in kb.topics}
    result = RetrainResult(version=spec, path=path, kb_path=kb_path)
    longest = 0
    for n, raw, problem in read_records(Path(feedback)):
        why = [problem] if problem else errors(raw)
        if why:
            result.invalid.append(f"{feedback}: record {n}: {'; '.join(why)}")
            continue
        if not raw.get("expected"):
            continue  # nothing to learn: a rating without a corrected answer
        record = normalise(raw, redact=redact)
        prompt, expected = record["prompt"].strip(), " ".join(record["expected"].split())
        intent = classify(prompt)
        if intent is not None:
            result.ignored.append(
                f"{feedback}: record {n}: the policy answers this prompt ({intent.value}), "
                "not the knowledge base"
            )
            continue
        if not tokenize(prompt):
            result.ignored.append(f"{feedback}: record {n}: the prompt has no words to match")
            continue
        kb, topic_id, new = learn(kb, prompt, expected, str(record["id"]), taken)
        if new:
            result.added.append(topic_id)
        elif topic_id not in result.updated and topic_id not in result.added:
            result.updated.append(topic_id)
        if record["id"] not in result.used:
            result.used.append(str(record["id"]))
        longest = max(longest, len(expected))
    if not result.used:
        raise InputError(
            f"{feedback}: no usable feedback record (a valid record with an `expected` answer)"
            + "".join(f"\n  {s}" for s in (*result.invalid, *result.ignored))
        )
    now = utc_now()
    new_spec = replace(
        spec,
        name=target,
        description=f"{base} retrained on {len(result.used)} feedback record(s) from "
        f"{Path(feedback).name}",
        kb=kb_path,
        base=base,
        feedback_ids=(*spec.feedback_ids, *(i for i in result.used if i not in spec.feedback_ids)),
        created_at=now,
        path=path,
        builtin=False,
        # A corrected answer is given whole.
        max_answer_chars=max(spec.max_answer_chars, longest),
    )
    header = (
        f"# Built by `llmops chatbot retrain` from {base} and {Path(feedback).name} on {now}.\n"
    )
    write_atomic(kb_path, header + _dump(kb_to_doc(kb)))
    write_atomic(path, header + _dump(new_spec.to_doc(kb_path.name)))
    result.version = load_version(target, extra_dirs=(out_dir,))
    return result


def _dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
