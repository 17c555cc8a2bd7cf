"""Grounded answers: evidence selection, prompting, verification, refusal, multi-part questions.

>>> from rag.answer import Answerer
>>> Answerer(config, backend="extractive", search=pipeline.search).answer("张家港向沿河投入多少资金？")
"""

from rag.answer.answerer import Answerer, SearchFn
from rag.answer.extractive import extractive_answer
from rag.answer.multipart import split_question
from rag.answer.prompt import REFUSAL, SYSTEM_PROMPT, build_messages, refusal_text
from rag.answer.question import QuestionInfo, analyze_question
from rag.answer.support import check_support, score_sentences
from rag.answer.verify import parse_claims, verify_answer

__all__ = [
    "Answerer", "SearchFn", "extractive_answer", "split_question", "REFUSAL", "SYSTEM_PROMPT",
    "build_messages", "refusal_text", "QuestionInfo", "analyze_question", "check_support", "score_sentences",
    "parse_claims", "verify_answer",
]
