"""Bounded, validated input (rag.validate) and the prompt budget (rag.answer.budget): unit tests,
the Answerer with a fake model that has a small context window, and the CLI's messages."""

from __future__ import annotations

import pytest

from rag.answer import Answerer
from rag.answer.budget import fit_evidence, token_counter
from rag.answer.passages import passages_from_texts
from rag.answer.question import QuestionError, check_question
from rag.config import load_config
from rag.llm.base import LLMBackend
from rag.pipeline import Pipeline
from rag.validate import InputError, check_backend, check_filters, check_k, check_max_tokens, check_temperature, parse_date

# Our own sentences about a fictional county.
FACTS = [
    "2021年青禾县共获得东部协作资金3.6亿元，用于产业和基础设施项目。",
    "青禾县前一年获得东部协作资金2.9亿元，其中一半用于易地搬迁安置点建设。",
    "截至2020年底，青禾县累计获得东部协作资金7.5亿元，实施项目210个。",
    "青禾县的茶园面积达到四万亩，带动农户增收。",
]


# -- questions --------------------------------------------------------------------------------------
def test_question_length_limit_names_the_limit_and_the_setting():
    assert check_question("  青禾县获得了多少资金？ ", 20) == "青禾县获得了多少资金？"
    assert check_question("问" * 20, 20) == "问" * 20
    with pytest.raises(QuestionError) as err:
        check_question("问" * 5000, 500)
    message = str(err.value)
    assert "5000" in message and "500" in message and "answer.max_question_chars" in message
    assert err.value.param == "question"
    assert check_question("问" * 5000, 0) == "问" * 5000  # 0 = no limit


@pytest.mark.parametrize("value,message", [("", "问题为空"), ("  ", "问题为空"), ("？！…", "只包含标点"),
                                           (123, "必须是文字")])
def test_empty_punctuation_and_non_text_questions(value, message):
    with pytest.raises(QuestionError, match=message):
        check_question(value, 500)


def test_pipeline_rejects_a_long_question_before_touching_the_index(tmp_path):
    pipe = Pipeline(load_config(overrides={"answer.max_question_chars": 50}), index_dir=tmp_path / "none")
    with pytest.raises(QuestionError, match="问题过长：共 51 个字符，超过上限 50"):
        pipe.ask("问" * 51, backend="extractive")
    with pytest.raises(QuestionError, match="问题过长"):
        next(pipe.ask_stream("问" * 51, backend="extractive"))
    with pytest.raises(QuestionError, match="问题过长"):
        pipe.standalone_question("问" * 51, [("青禾县获得了多少资金？", "")])


# -- dates and filters --------------------------------------------------------------------------------
@pytest.mark.parametrize("text,iso", [("2020", "2020"), ("2020-8", "2020-08"), ("2020-08-19", "2020-08-19"),
                                      ("2020/8/19", "2020-08-19"), ("2020年8月19日", "2020-08-19"),
                                      ("2020年8月", "2020-08"), ("2024-02-29", "2024-02-29"), (" ", None)])
def test_dates_in_the_usual_forms(text, iso):
    assert parse_date(text) == iso


@pytest.mark.parametrize("text,message", [("2020-13-45", "不是有效的日期"), ("2021-02-29", "不是有效的日期"),
                                          ("2020-00", "不是有效的日期"), ("上周", "格式不对"), ("20200819x", "格式不对"),
                                          ("19-08-2020", "格式不对")])
def test_bad_dates_are_errors_naming_the_field(text, message):
    with pytest.raises(InputError, match=message) as err:
        check_filters(None, text, None)
    assert err.value.param == "date_from" and "起始日期" in str(err.value)


def test_filters_order_and_sources():
    f = check_filters(["新华网", " "], "2020-01", "2020")
    assert f.sources == ["新华网"] and f.date_from == "2020-01" and f.date_to == "2020"
    assert check_filters(None, "", None) is None
    with pytest.raises(InputError, match="晚于截止日期") as err:
        check_filters(None, "2020-09", "2020-08-31")
    assert err.value.param == "date_from"
    with pytest.raises(InputError, match="sources"):
        check_filters([1, 2], None, None)


# -- numbers and names ---------------------------------------------------------------------------------
def test_k_temperature_max_tokens_and_backend():
    assert check_k(None, limit=20) is None and check_k("5", limit=20) == 5 and check_k(5.0, limit=20) == 5
    assert check_k(0, limit=20, zero_is_default=True) is None
    for bad in (0, 21, -1, "abc", 2.5, True):
        with pytest.raises(InputError, match="段落数 k") as err:
            check_k(bad, limit=20)
        assert err.value.param == "k"
    assert check_temperature(None) is None and check_temperature(0) == 0.0 and check_temperature(1.5) == 1.5
    for bad in (-0.1, 2.5, "hot", float("nan"), True):
        with pytest.raises(InputError, match="temperature"):
            check_temperature(bad)
    assert check_max_tokens(64, limit=1024) == 64
    for bad in (0, 1025, "many"):
        with pytest.raises(InputError, match="max_tokens"):
            check_max_tokens(bad, limit=1024)
    assert check_backend("", default="llama_cpp") is None and check_backend("extractive") == "extractive"
    assert check_backend("my.plugin:Model", default="my.plugin:Model") == "my.plugin:Model"  # configured
    for bad in ("os:system", "gpt-4", 3):
        with pytest.raises(InputError, match="未知的回答后端"):
            check_backend(bad, default="llama_cpp")


def test_pipeline_checks_k_temperature_and_max_tokens(tmp_path):
    pipe = Pipeline(load_config(), index_dir=tmp_path / "none")
    for kwargs, field in (({"k": 0}, "k"), ({"k": 500}, "k"), ({"temperature": 3}, "temperature"),
                          ({"max_tokens": 10 ** 6}, "max_tokens")):
        with pytest.raises(InputError) as err:
            pipe.ask("青禾县获得了多少资金？", backend="extractive", **kwargs)
        assert err.value.param == field


# -- prompt budget ---------------------------------------------------------------------------------------
class SmallContextLLM(LLMBackend):
    """A fake model with a small context window; counts one token per character, like a
    tokenizer would, and records what it was asked."""

    name = "fake"

    def __init__(self, n_ctx: int, reply: str = "2021年青禾县获得东部协作资金3.6亿元[1]。"):
        super().__init__()
        self.n_ctx, self.reply, self.calls = n_ctx, reply, []

    def count_tokens(self, text: str) -> int:
        return len(text)

    def _stream(self, messages, *, max_tokens, temperature, stop, stats):
        prompt = token_counter(self)(messages)
        if prompt + max_tokens > self.n_ctx:  # what llama.cpp would refuse
            raise AssertionError(f"prompt {prompt} + {max_tokens} > n_ctx {self.n_ctx}")
        self.calls.append((prompt, max_tokens))
        yield self.reply


def test_fit_evidence_drops_from_the_end_and_keeps_the_best():
    passages = passages_from_texts(FACTS)
    for p in passages:
        p.evidence, p.evidence_spans = p.text, [(0, len(p.text))]
    count = token_counter(SmallContextLLM(0))
    whole = count([{"role": "user", "content": "x"}])
    assert whole > 1
    full = fit_evidence("青禾县获得了多少资金？", passages, count, 10 ** 6)
    assert not full.trimmed and len(full.passages) == 4
    tight = fit_evidence("青禾县获得了多少资金？", passages, count, full.tokens - 40)
    assert tight.trimmed and tight.dropped >= 1 and tight.tokens <= full.tokens - 40
    assert tight.passages[0].text == FACTS[0]
    assert [p.text for p in passages] == FACTS  # the caller's passages are not modified


def test_answerer_trims_evidence_to_fit_the_context_instead_of_failing():
    config = load_config(overrides={"answer.evidence_total_chars": 2000, "answer.evidence_chars": 500,
                                    "answer.min_relevance": 0})
    question = "青禾县获得了多少东部协作资金？"
    roomy = SmallContextLLM(100_000)
    assert not Answerer(config, llm=roomy).answer(question, passages=FACTS).checks["prompt_trimmed"]
    needed = roomy.calls[0][0]  # the prompt with all the selected evidence
    llm = SmallContextLLM(needed + 200 - 30)  # 30 tokens short of prompt + max_tokens (200)
    ans = Answerer(config, llm=llm).answer(question, passages=FACTS)
    assert not ans.refused and "3.6亿元" in ans.answer
    prompt, max_tokens = llm.calls[0]
    assert prompt + max_tokens <= llm.n_ctx and max_tokens == 200
    assert ans.checks["prompt_trimmed"] and ans.checks["prompt_trimmed"][0]["budget"] < needed
    from rag.answer.prompt import build_messages

    bare = token_counter(llm)(build_messages(question, []))
    tiny = SmallContextLLM(bare + 150)  # the instructions, a cut passage and a short answer
    short = Answerer(config, llm=tiny).answer(question, passages=FACTS, max_tokens=200)
    assert tiny.calls and 16 <= tiny.calls[0][1] < 200  # the answer is shortened, nothing fails
    assert short.answer


def test_requested_max_tokens_and_temperature_reach_the_model():
    seen = {}

    class Recorder(SmallContextLLM):
        def _stream(self, messages, *, max_tokens, temperature, stop, stats):
            seen.update(max_tokens=max_tokens, temperature=temperature)
            yield self.reply

    config = load_config(overrides={"answer.min_relevance": 0})
    Answerer(config, llm=Recorder(100_000)).answer("青禾县获得了多少东部协作资金？", passages=FACTS, max_tokens=50,
                                                   temperature=0.7)
    assert seen == {"max_tokens": 50, "temperature": 0.7}


# -- CLI ------------------------------------------------------------------------------------------------
def test_cli_names_the_limit_and_the_bad_date(tmp_path, capsys):
    from rag.cli import main

    none = str(tmp_path / "none")
    assert main(["ask", "问" * 600, "--index", none, "--backend", "extractive"]) == 2
    err = capsys.readouterr().err
    assert "问题过长" in err and "500" in err and "answer.max_question_chars" in err
    assert main(["ask", "青禾县获得了多少资金？", "--date-from", "2020-13-45", "--index", none]) == 2
    assert "起始日期「2020-13-45」不是有效的日期" in capsys.readouterr().err
    assert main(["search", "青禾县", "--date-to", "昨天", "--index", none]) == 2
    assert "截止日期「昨天」格式不对" in capsys.readouterr().err
    assert main(["ask", "青禾县获得了多少资金？", "-k", "0", "--index", none, "--backend", "extractive"]) == 2
    assert "段落数 k 必须在 1 到 20 之间" in capsys.readouterr().err


@pytest.mark.slow
def test_real_model_with_a_small_context_gets_trimmed_evidence_not_an_error():
    """The real GGUF at n_ctx=1024 with far more evidence allowed than fits: the answer stage trims
    (llama_cpp_backend would raise 提示过长 if the prompt reached it whole)."""
    filler = "这些资金主要用于修建乡村道路、改造农村危房、扶持特色种养业和开展劳务培训。"
    passages = [f"{2015 + i}年，青禾县获得东部协作资金{i + 1}.{i}亿元，实施项目{30 + i}个。" + filler * 6
                for i in range(6)]
    config = load_config(overrides={"llm.llama_cpp.n_ctx": 1024, "answer.evidence_total_chars": 4000,
                                    "answer.evidence_chars": 1500, "answer.evidence_neighbours": 3,
                                    "retrieval.top_k": 6, "answer.min_relevance": 0})
    answerer = Answerer(config, backend="llama_cpp")
    ans = answerer.answer("青禾县获得了多少东部协作资金？", passages=passages)
    assert ans.timings["llm_calls"] == 1
    trimmed = ans.checks["prompt_trimmed"]
    assert trimmed and trimmed[0]["dropped_passages"] >= 1
    assert ans.timings["prompt_tokens"] <= 1024 - 200
    assert ans.passages  # the passages shown are the trimmed ones, numbered from 1
