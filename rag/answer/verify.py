"""Mechanical verification of a generated answer (pure functions).

A small model gets figures right but often cites the wrong passage, so citations are
checked and repaired here:

1. :func:`parse_claims` splits the answer into claims — the text up to a marker group
   ``[1]``/``[1][2]``/``[1,2]``/``【1】`` — and the uncited rest of each sentence.
2. For every claim, markers outside ``1..N`` are dropped (``invalid_citations``).
3. A claim with figures (:func:`rag.text.numbers.numbers_in`) must cite a passage holding
   them (modulo normalisation: 1.1亿元 = 11000万元). Citations to passages holding none of
   the claim's figures are dropped; if no cited passage holds a figure, the claim is
   re-pointed to the passage(s) that do (``repaired_citations``); a figure found in no
   passage is ``ungrounded`` and its sentence is marked unsupported. Figures the question
   itself states (the year in 2022年…是什么) are context and not checked.
4. A claim without figures is supported by a passage sharing at least half of its
   character bigrams; otherwise it is re-pointed to the passage that does, or marked.
5. A claim without any citation gets citations attached where its figures/spans are
   found (``uncited_claims`` counts them: the model produced no citation there).

The result is the repaired text plus ``checks`` and the supporting spans per passage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from rag.text.citations import (CITATION_MARKERS_RE, claim_overlap, is_refusal, normalize_answer, parse_markers,
                                strip_citations)
from rag.text.normalize import fold_text
from rag.text.numbers import extract_quantities, figure_spans, numbers_in

__all__ = ["Claim", "Verification", "parse_claims", "verify_answer", "UNSUPPORTED_MARK",
           "claim_overlap", "bigram_spans", "clause_span"]

UNSUPPORTED_MARK = "〔未核实〕"
MIN_OVERLAP = 0.5
_SENT_END = "。！？；!?;\n"
_FILLER = re.compile(r"根据|依据|按照|资料|文档|段落|材料|显示|指出|表示|提到|称|中|所述|报道|来看|可知|如下|的|，|,|：|:")


@dataclass
class Claim:
    """One claim of an answer.

    Attributes:
        text: claim text (no markers).
        start: start of ``text`` in the answer.
        end: end of ``text`` in the answer.
        cited: passage numbers as written (may include invalid ones).
        marker: span of its marker group in the answer, None when uncited.
    """

    text: str
    start: int
    end: int
    cited: list[int]
    marker: tuple[int, int] | None = None


@dataclass
class ClaimCheck:
    """Verdict on one claim after repair."""

    claim: Claim
    figures: list[str]
    final: list[int]
    ungrounded: list[str] = field(default_factory=list)
    repaired: bool = False
    invalid: list[int] = field(default_factory=list)
    supported: bool = True
    substantive: bool = True


@dataclass
class Verification:
    """Outcome of :func:`verify_answer`.

    Attributes:
        text: the answer with repaired markers (and unsupported sentences marked).
        claims: per-claim verdicts.
        cited: passage numbers cited in ``text``, in first-citation order.
        support: passage number → spans of its text that support the answer.
        checks: summary for ``Answer.checks``.
    """

    text: str
    claims: list[ClaimCheck]
    cited: list[int]
    support: dict[int, list[tuple[int, int]]]
    checks: dict


def parse_claims(answer: str) -> list[Claim]:
    """Split an answer into claims with their markers (spans index ``answer``).

    A marker group right after sentence-final punctuation (``…亿元。[1]``) belongs to the
    sentence before it. Text after the last marker of a sentence is an uncited claim.

    Args:
        answer: answer text with ``[n]`` markers.

    Returns:
        Claims in order (claims with no letters/digits are dropped).
    """
    claims: list[Claim] = []
    pos = 0
    text = answer or ""
    for m in CITATION_MARKERS_RE.finditer(text):
        seg_start = pos
        seg = text[pos:m.start()]
        cuts = [i + 1 for i, ch in enumerate(seg) if ch in _SENT_END]
        # pieces of the segment split at sentence ends; the last non-empty piece owns the marker
        bounds = [0, *cuts, len(seg)]
        pieces = [(seg_start + a, seg_start + b) for a, b in zip(bounds, bounds[1:]) if b > a]
        while len(pieces) > 1 and not normalize_answer(text[pieces[-1][0]:pieces[-1][1]]):
            pieces.pop()
        for i, (a, b) in enumerate(pieces):
            owner = i == len(pieces) - 1
            _add(claims, text, a, b, parse_markers(m.group()) if owner else [],
                 (m.start(), m.end()) if owner else None)
        pos = m.end()
    rest = text[pos:]
    cuts = [i + 1 for i, ch in enumerate(rest) if ch in _SENT_END]
    bounds = [0, *cuts, len(rest)]
    for a, b in zip(bounds, bounds[1:]):
        if b > a:
            _add(claims, text, pos + a, pos + b, [], None)
    return claims


def _add(claims: list[Claim], text: str, a: int, b: int, cited: list[int], marker) -> None:
    piece = text[a:b]
    if not normalize_answer(piece):
        if marker is not None and claims and claims[-1].marker is None:
            claims[-1].cited, claims[-1].marker = cited, marker  # "…亿元。 [1]" after an empty piece
        return
    lead = len(piece) - len(piece.lstrip(" \t，,、；;：:"))
    trail = len(piece) - len(piece.rstrip())
    claims.append(Claim(piece.strip().lstrip("，,、；;：:"), a + lead, b - trail, list(cited), marker))


def bigram_spans(claim: str, passage: str, min_len: int = 4) -> list[tuple[int, int]]:
    """Spans of ``passage`` that repeat runs (>= ``min_len`` chars) of the claim text.

    Used to mark the supporting span of a claim without figures. Both texts are compared
    after :func:`fold_text` (Simplified, half-width), so spans index the passage as given.
    """
    hay = fold_text(passage)
    needle = fold_text(strip_citations(claim))
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(needle):
        best = 0
        for j in range(len(needle), i + min_len - 1, -1):
            piece = needle[i:j]
            if not piece.strip() or len(piece) < min_len:
                break
            k = hay.find(piece)
            if k >= 0:
                spans.append((k, k + len(piece)))
                best = len(piece)
                break
        i += best or 1
    return spans


def _figure_hits(figures: Sequence[str], passages: Sequence[str],
                 meta: Sequence[str]) -> list[dict[str, list[tuple[int, int]]]]:
    """Per passage: figure → its spans in the passage (``[]`` when only its header has it)."""
    out = []
    for i, p in enumerate(passages):
        found: dict[str, list[tuple[int, int]]] = {}
        for f in figures:
            spans = figure_spans(f, p)
            if spans or (i < len(meta) and meta[i] and figure_spans(f, meta[i])):
                found[f] = spans
        out.append(found)
    return out


_CLAUSE_DELIMS = "，,。；;！？!?\n"


def clause_span(text: str, a: int, b: int) -> tuple[int, int]:
    """Widen ``[a, b)`` to the clause of ``text`` that contains it (between ，。；！？ marks)."""
    lo = max((text.rfind(d, 0, a) for d in _CLAUSE_DELIMS), default=-1) + 1
    ends = [i for d in _CLAUSE_DELIMS if (i := text.find(d, b)) >= 0]
    hi = min(ends) if ends else len(text)
    while lo < a and text[lo].isspace():
        lo += 1
    return lo, max(hi, b)


def complete_units(answer: str, passages: Sequence[str]) -> str:
    """Give bare numbers the unit the passages state them with: ``12[1]`` → ``12人[1]``.

    A number without unit in the answer (not a year, date or list ordinal) gets the unit
    when every passage quantity of the same value carries one and the same unit.

    Args:
        answer: the generated answer.
        passages: passage texts.

    Returns:
        The answer with the units inserted.
    """
    inserts: list[tuple[int, str]] = []
    for q in numbers_in(answer):
        if q.unit or q.kind != "plain" or (1900 <= q.value <= 2100 and q.value == int(q.value)):
            continue
        tails = {_unit_tail(t) for p in passages for t in extract_quantities(p)
                 if t.unit and t.value == q.value and t.kind in ("count", "money", "percent")}
        if len(tails) == 1:
            tail = tails.pop()
            if tail and not answer[q.end:q.end + len(tail)] == tail:
                inserts.append((q.end, tail))
    for pos, tail in sorted(inserts, reverse=True):
        answer = answer[:pos] + tail + answer[pos:]
    return answer


def _unit_tail(q) -> str:
    """The unit part of a quantity's surface: ``12人`` → ``人``, ``2.5亿元`` → ``亿元``."""
    m = re.match(r"[\d.,]+\s*", q.surface)
    return q.surface[m.end():] if m else ""


def _substantive(text: str) -> bool:
    return len(normalize_answer(_FILLER.sub("", text))) >= 2


def verify_answer(answer: str, passages: Sequence[str], *, question: str = "",
                  meta: Sequence[str] | None = None) -> Verification:
    """Check and repair the citations of ``answer`` against the given passages.

    Args:
        answer: generated answer with ``[n]`` markers.
        passages: passage texts; passage ``n`` is ``passages[n - 1]``.
        question: the question; its own numbers (e.g. 2019 in 截至2019年底) are not
            flagged as ungrounded when no passage repeats them.
        meta: per passage, the header the model saw (outlet, date): a figure found there
            (an answer naming its source's date) is grounded too.

    Returns:
        The :class:`Verification` (repaired text, per-claim verdicts, supporting spans,
        ``checks``: ``citations_valid``, ``invalid_citations``, ``repaired_citations``,
        ``uncited_claims``, ``ungrounded_numbers``, ``unsupported_sentences``,
        ``no_citation``).
    """
    n_pass = len(passages)
    claims = parse_claims(answer)
    q_fold = fold_text(question or "")
    results: list[ClaimCheck] = []
    support: dict[int, list[tuple[int, int]]] = {}
    refusal = is_refusal(answer)
    for c in claims:
        valid = [n for n in dict.fromkeys(c.cited) if 1 <= n <= n_pass]
        invalid = [n for n in c.cited if not 1 <= n <= n_pass]
        # the question's own figures (2022年 in 2022年…是什么) are context, not claims to check
        figures = [f for f in dict.fromkeys(q.surface for q in numbers_in(c.text)) if not figure_spans(f, q_fold)]
        check = ClaimCheck(c, figures, valid, invalid=invalid, substantive=_substantive(c.text))
        if not check.substantive or (refusal and not figures):
            check.final = [] if not check.substantive else valid
            results.append(check)
            continue
        if figures:
            _check_figures(check, passages, meta or [], q_fold, support)
        else:
            _check_text(check, passages, support)
        results.append(check)
    text = _rebuild(answer, results)
    cited = list(dict.fromkeys(n for r in results for n in r.final))
    unsupported = [r.claim.text for r in results if not r.supported]
    checks = {
        "citations_valid": not any(r.invalid for r in results),
        "invalid_citations": sorted({n for r in results for n in r.invalid}),
        "repaired_citations": [{"claim": r.claim.text, "from": [n for n in r.claim.cited if 1 <= n <= n_pass],
                                "to": r.final} for r in results if r.repaired],
        "uncited_claims": sum(1 for r in results if not r.claim.cited and r.substantive and r.final),
        "ungrounded_numbers": list(dict.fromkeys(f for r in results for f in r.ungrounded)),
        "unsupported_sentences": unsupported,
        "no_citation": bool(claims) and not any(r.claim.cited for r in results) and not refusal,
    }
    return Verification(text, results, cited, {n: sorted(set(s)) for n, s in support.items()}, checks)


def _check_figures(check: ClaimCheck, passages: Sequence[str], meta: Sequence[str], q_fold: str,
                   support: dict[int, list[tuple[int, int]]]) -> None:
    hits = _figure_hits(check.figures, passages, meta)
    holders = {n for n in range(1, len(passages) + 1) if hits[n - 1]}
    keep = [n for n in check.final if n in holders]
    covered = {f for n in keep for f in hits[n - 1]}
    todo = [f for f in check.figures if f not in covered]
    added: list[int] = []
    while todo:
        best = max(range(1, len(passages) + 1),
                   key=lambda n: (sum(f in hits[n - 1] for f in todo), claim_overlap(check.claim.text, passages[n - 1]), -n))
        if not any(f in hits[best - 1] for f in todo):
            break
        added.append(best)
        todo = [f for f in todo if f not in hits[best - 1]]
    final = list(dict.fromkeys(keep + added))
    check.ungrounded = [f for f in todo if not figure_spans(f, q_fold)]
    check.repaired = bool(check.claim.cited) and final != check.final
    check.final = final
    check.supported = not check.ungrounded and bool(final)
    for n in final:
        for spans in hits[n - 1].values():
            support.setdefault(n, []).extend(clause_span(passages[n - 1], a, b) for a, b in spans)


def _check_text(check: ClaimCheck, passages: Sequence[str], support: dict[int, list[tuple[int, int]]]) -> None:
    overlaps = [claim_overlap(check.claim.text, p) for p in passages]
    good = [n for n in check.final if overlaps[n - 1] >= MIN_OVERLAP]
    if not good and passages:
        best = max(range(1, len(passages) + 1), key=lambda n: (overlaps[n - 1], -n))
        if overlaps[best - 1] >= MIN_OVERLAP:
            good = [best]
    check.repaired = bool(check.claim.cited) and good != check.final and bool(good)
    check.final = good or check.final
    check.supported = bool(good)
    for n in good:
        support.setdefault(n, []).extend(bigram_spans(check.claim.text, passages[n - 1]))


def _markers(ns: Sequence[int]) -> str:
    return "".join(f"[{n}]" for n in ns)


def _rebuild(answer: str, results: Sequence[ClaimCheck]) -> str:
    """Rewrite markers: replace each claim's marker group, insert markers for uncited claims,
    and mark unsupported claims."""
    edits: list[tuple[int, int, str]] = []
    for r in results:
        new = _markers(r.final)
        mark = "" if r.supported or not r.substantive else UNSUPPORTED_MARK
        if r.claim.marker is not None:
            a, b = r.claim.marker
            edits.append((a, b, new + mark))
        elif new or mark:
            end = r.claim.end
            while end > r.claim.start and answer[end - 1] in "。！？；!?;，,":
                end -= 1
            edits.append((end, end, new + mark))
    out = answer
    for a, b, rep in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        out = out[:a] + rep + out[b:]
    return out
