"""The real app on the seed corpus, in-process (uvicorn thread): gradio_client endpoints, the
OpenAI-compatible route with the official client, the chat handler, uploads and auth."""

from __future__ import annotations

import re
import shutil
import socket
from types import SimpleNamespace

import httpx
import pytest

pytestmark = pytest.mark.ui

FUNDS_Q = "张家港向沿河投入多少资金？"
# An article of our own (fictional town) for the upload tests.
CANAL_ARTICLE = """# 青禾镇修通万亩灌溉渠

来源：山海测试通讯社 2022年9月14日

虚构的青禾镇今年修通了一条长约18公里的灌溉渠，镇政府和对口帮扶单位合计投入建设资金4172万元，
让下游六个村的旱地变成了水浇地。镇上的技术员说，渠道完工后当地的玉米亩产预计提高两成。
"""
CANAL_Q = "青禾镇修灌溉渠投入了多少建设资金？"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(pipeline, config):
    from ui.app import create_app
    from ui.server import start_in_thread

    app = create_app(pipeline, config)
    port = free_port()
    server, thread = start_in_thread(app, "127.0.0.1", port)
    return app, server, thread, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def ui_app(seed_pipeline, tmp_path_factory):
    """The app on a private copy of the seed index (uploads must not touch the shared one)."""
    from rag.pipeline import Pipeline

    root = tmp_path_factory.mktemp("ui-server")
    shutil.copytree(seed_pipeline.index_dir, root / "index")
    config = seed_pipeline.config.with_overrides({
        "index_dir": str(root / "index"),
        "ui.max_upload_mb": 1,
        # nothing listens here: the "openai" backend fails fast, as a dead endpoint would
        "llm.openai.base_url": f"http://127.0.0.1:{free_port()}/v1",
        "llm.openai.timeout": 5,
    })
    pipe = Pipeline(config)
    assert len(pipe.documents()) == 5
    app, server, thread, url = start_app(pipe, config)
    yield SimpleNamespace(url=url, app=app, ctx=app.state.shanhai_ctx, pipeline=pipe, config=config, root=root)
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def client(ui_app):
    from gradio_client import Client

    return Client(ui_app.url, verbose=False)


# -- gradio_client -------------------------------------------------------------------------------
def test_named_endpoints(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/ask", "/search", "/documents", "/document", "/upload", "/remove"} <= set(named)
    assert not any(name.startswith("/_") or "respond" in name for name in named)  # UI events stay private


def test_ask_returns_the_cli_json_with_citations(client, ui_app):
    out = client.predict(FUNDS_Q, "extractive", 5, api_name="/ask")
    assert not out["refused"]
    assert out["citations"], out
    assert set(out) == set(ui_app.pipeline.ask(FUNDS_Q, backend="extractive", k=5).to_json())
    direct = ui_app.pipeline.ask(FUNDS_Q, backend="extractive", k=5).to_json()
    assert out["answer"] == direct["answer"]
    assert [c["chunk_id"] for c in out["citations"]] == [c["chunk_id"] for c in direct["citations"]]
    for c in out["citations"]:
        assert f"[{c['n']}]" in out["answer"]
        assert "张家港" in c["title"] or "张家港" in c["text"]
    assert "亿元" in out["answer"] or "万元" in out["answer"]


@pytest.mark.slow
def test_ask_with_the_default_llama_cpp_backend(client):
    out = client.predict(FUNDS_Q, "", 5, api_name="/ask")
    assert out["backend"] == "llama_cpp"
    assert out["timings"]["llm_calls"] >= 1  # the corpus supports the question: the model ran
    assert out["passages"]
    if not out["refused"]:  # a grounded answer cites passages that exist, and only those
        numbers = {p["n"] for p in out["passages"]}
        cited = {c["n"] for c in out["citations"]}
        assert cited and cited <= numbers
        assert {int(n) for n in re.findall(r"\[(\d+)\]", out["answer"])} <= cited


def test_search_documents_document(client):
    hits = client.predict("东西部扶贫协作 靖远", 3, api_name="/search")
    assert len(hits) == 3 and all(h["title"] and h["text"] for h in hits)
    judged = client.predict("东西部扶贫协作 靖远", 3, True, api_name="/search")  # rerank by the judge
    pool = {h["chunk_id"] for h in client.predict("东西部扶贫协作 靖远", 16, api_name="/search")}
    assert len(judged) == 3 and {h["chunk_id"] for h in judged} <= pool
    docs = client.predict(api_name="/documents")
    assert len(docs) == 5 and all(d["n_chunks"] > 0 for d in docs)
    assert any("mojibake_repaired" in d["flags"] for d in docs)
    assert any(d["near_duplicates"] for d in docs)
    one = client.predict(docs[1]["doc_id"], api_name="/document")
    assert one["original"] and one["raw"] and len(one["original"]) == len(one["text"])
    assert one["n_chunks"] == docs[1]["n_chunks"]
    with pytest.raises(Exception, match="找不到文档"):
        client.predict("no-such-doc", api_name="/document")


def test_upload_makes_a_new_document_answerable_then_remove(client, ui_app, tmp_path):
    from gradio_client import handle_file

    path = tmp_path / "qinghe_canal.md"
    path.write_text(CANAL_ARTICLE, encoding="utf-8")
    out = client.predict([handle_file(str(path))], api_name="/upload")
    assert out["ok"] and out["added"] == 1 and out["doc_ids"] == ["qinghe_canal"]
    answer = client.predict(CANAL_Q, "extractive", 5, api_name="/ask")
    assert not answer["refused"]
    assert "4172万元" in answer["answer"]
    assert answer["citations"][0]["doc_id"] == "qinghe_canal"
    assert (ui_app.ctx.upload_dir / "qinghe_canal.md").is_file()
    assert client.predict("qinghe_canal", api_name="/remove") == {"doc_id": "qinghe_canal", "removed": True}
    assert not (ui_app.ctx.upload_dir / "qinghe_canal.md").exists()
    assert client.predict("qinghe_canal", api_name="/remove")["removed"] is False
    assert "qinghe_canal" not in {d["doc_id"] for d in client.predict(api_name="/documents")}
    after = client.predict(CANAL_Q, "extractive", 5, api_name="/ask")
    assert all(c["doc_id"] != "qinghe_canal" for c in after["citations"])


@pytest.mark.parametrize("name,content,message", [
    ("report.pdf", b"%PDF-1.4 not really", "不支持的文件类型 .pdf"),
    ("photo.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "二进制文件"),
    ("huge.txt", "很长的文字。".encode() * 70_000, "超过上传上限 1 MB"),
    ("blank.txt", b"", "文件是空的"),
])
def test_bad_uploads_fail_with_a_clear_message(client, tmp_path, name, content, message):
    from gradio_client import handle_file

    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(Exception, match=message):
        client.predict([handle_file(str(path))], api_name="/upload")
    assert len(client.predict(api_name="/documents")) == 5


def test_undecodable_text_is_refused_by_ingest_with_its_reason(client, tmp_path):
    from gradio_client import handle_file

    path = tmp_path / "garbled.txt"
    path.write_bytes(bytes(range(128, 256)) * 40)
    with pytest.raises(Exception, match="garbled.txt"):
        client.predict([handle_file(str(path))], api_name="/upload")


def test_failing_backend_is_an_error_and_the_app_keeps_serving(client):
    with pytest.raises(Exception, match="回答后端出错"):
        client.predict(FUNDS_Q, "openai", 5, api_name="/ask")
    assert not client.predict(FUNDS_Q, "extractive", 5, api_name="/ask")["refused"]


# -- chat handler (the function behind the chat box) ------------------------------------------------
def run_turn(ctx, question, messages=None, history=None, backend="extractive", date_from="", sources=()):
    from ui.chat_tab import respond

    outs = list(respond(ctx, question, messages or [], history or [], backend, 5, list(sources), date_from, "",
                        "text"))
    messages, panel, history, _last, box = outs[-1]
    return SimpleNamespace(messages=messages, panel=panel, history=history, steps=outs, box=box)


def test_chat_turn_streams_links_and_rewrites_follow_ups(ui_app):
    first = run_turn(ui_app.ctx, FUNDS_Q)
    reply = first.messages[-1]["content"]
    assert "(#shanhai-chat-p-" in reply and "已理解为" not in reply
    assert 'class="shp-card shp-cited"' in first.panel
    assert len(first.steps) >= 3  # placeholder, passages, text..., final
    follow = run_turn(ui_app.ctx, "那靖远呢？", first.messages, first.history)
    reply = follow.messages[-1]["content"]
    assert "已理解为：" in reply and "靖远" in reply
    assert follow.history[-1][0] != "那靖远呢？" and "靖远" in follow.history[-1][0]
    assert len(follow.messages) == 4


def test_chat_refusal_is_calm_and_errors_are_errors(ui_app):
    refused = run_turn(ui_app.ctx, "火星基地今年一共种了多少土豆？")
    assert "资料中没有找到答案" in refused.messages[-1]["content"]
    assert 'data-kind="refusal"' in refused.panel and "出错了" not in refused.messages[-1]["content"]
    failed = run_turn(ui_app.ctx, FUNDS_Q, backend="openai")
    assert "出错了" in failed.messages[-1]["content"] and "回答后端出错" in failed.messages[-1]["content"]
    assert 'data-kind="error"' in failed.panel
    bad_date = run_turn(ui_app.ctx, FUNDS_Q, date_from="上周")
    assert "设置有误" in bad_date.messages[-1]["content"] and bad_date.box == FUNDS_Q


def test_chat_settings_filter_the_passages(ui_app):
    out = run_turn(ui_app.ctx, FUNDS_Q, sources=["新华网"])
    metas = re.findall(r'<div class="shp-meta">([^<]*)</div>', out.panel)
    assert metas and all(m.startswith("新华网") for m in metas)
    late = run_turn(ui_app.ctx, FUNDS_Q, date_from="2020-08")  # only one seed article is that recent
    metas = re.findall(r'<div class="shp-meta">([^<]*)</div>', late.panel)
    assert metas and all("2020-08-19" in m for m in metas)


def test_chat_without_an_index_says_so(ui_app, tmp_path):
    from rag.pipeline import Pipeline
    from ui.context import UIContext

    config = ui_app.config.with_overrides({"index_dir": str(tmp_path / "nothing-here")})
    ctx = UIContext(pipeline=Pipeline(config), config=config)
    out = run_turn(ctx, FUNDS_Q)
    assert "索引不存在" in out.messages[-1]["content"] and "文档库" in out.messages[-1]["content"]


# -- OpenAI-compatible route --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def oai(ui_app):
    from openai import OpenAI

    return OpenAI(base_url=ui_app.url + "v1", api_key="unused", max_retries=0)


def test_openai_models(oai):
    ids = {m.id for m in oai.models.list().data}
    assert {"shanhai", "shanhai-extractive", "shanhai-llama_cpp"} <= ids


def test_openai_non_streaming_carries_citations(oai):
    resp = oai.chat.completions.create(model="shanhai-extractive", messages=[{"role": "user", "content": FUNDS_Q}])
    content = resp.choices[0].message.content
    extra = resp.model_extra
    assert extra["citations"] and extra["shanhai"]["answer"] in content
    first = extra["citations"][0]
    assert f"[{first['n']}]" in content
    assert "\n\n参考：\n" in content and first["title"] in content.split("参考：")[1]
    assert resp.choices[0].finish_reason == "stop" and resp.model == "shanhai-extractive"


def test_openai_streaming_carries_citations_and_resolves_follow_ups(oai):
    stream = oai.chat.completions.create(
        model="shanhai-extractive", stream=True,
        messages=[{"role": "system", "content": "你好"}, {"role": "user", "content": FUNDS_Q},
                  {"role": "assistant", "content": "（上一轮的回答）"}, {"role": "user", "content": "那靖远呢？"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert text.startswith("已理解为：") and "靖远" in text.splitlines()[0]
    shanhai = last.model_extra["shanhai"]
    assert shanhai["rewritten_question"] and "靖远" in shanhai["rewritten_question"]
    if not shanhai["refused"]:
        assert last.model_extra["citations"] and "参考：" in text
        assert f"[{last.model_extra['citations'][0]['n']}]" in text


def test_openai_streaming_plain_question(oai):
    chunks = list(oai.chat.completions.create(model="shanhai-extractive", stream=True,
                                              messages=[{"role": "user", "content": FUNDS_Q}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) >= 4
    cites = chunks[-1].model_extra["citations"]
    assert cites and "参考：" in text and all(f"[{c['n']}]" in text for c in cites)


def test_openai_errors(oai, ui_app):
    import openai

    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": FUNDS_Q}])
    with pytest.raises(openai.BadRequestError, match="只包含标点"):
        oai.chat.completions.create(model="shanhai-extractive", messages=[{"role": "user", "content": "  ？ "}])
    r = httpx.post(ui_app.url + "v1/chat/completions", json={"model": "shanhai-openai",
                                                               "messages": [{"role": "user", "content": FUNDS_Q}]})
    assert r.status_code == 503 and "回答后端出错" in r.json()["error"]["message"]  # the server's side, not input
    assert r.json()["error"]["type"] == "server_error" and "param" in r.json()["error"]


PAIR_FOLLOW_UP = "那天津市和平区对靖远县呢？"


def test_openai_follow_up_keeps_the_predicate_and_reports_the_rewrite(oai):
    resp = oai.chat.completions.create(model="shanhai-extractive", messages=[
        {"role": "user", "content": FUNDS_Q}, {"role": "assistant", "content": "（上一轮的回答）"},
        {"role": "user", "content": PAIR_FOLLOW_UP}])
    content = resp.choices[0].message.content
    meta = resp.model_extra["shanhai"]
    assert meta["rewritten_question"] == "天津市和平区向靖远县投入多少资金？"
    assert content.startswith("已理解为：天津市和平区向靖远县投入多少资金？")
    assert "5200万元" in meta["answer"]


def v1(ui_app, path="v1/chat/completions", body=None, **kw):
    return httpx.post(ui_app.url + path, json=body, timeout=60, **kw)


def assert_openai_error(r, status, param=None, message=None):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"] and err["type"]
    if param is not None:
        assert err["param"] == param
    if message is not None:
        assert message in err["message"], err["message"]
    return err


def ask_body(**extra):
    return {"model": "shanhai-extractive", "messages": [{"role": "user", "content": FUNDS_Q}], **extra}


@pytest.mark.parametrize("extra,param,message", [
    ({"date_from": "2020-13-45"}, "date_from", "不是有效的日期"),
    ({"date_to": "上周"}, "date_to", "格式不对"),
    ({"date_from": "2020-09", "date_to": "2020-08"}, "date_from", "晚于截止日期"),
    ({"k": 0}, "k", "段落数 k"),
    ({"k": 999}, "k", "段落数 k"),
    ({"k": "abc"}, "k", "段落数 k"),
    ({"top_k": -3}, "top_k", "段落数 k"),
    ({"temperature": 5}, "temperature", "temperature"),
    ({"temperature": "hot"}, "temperature", "temperature"),
    ({"max_tokens": 0}, "max_tokens", "max_tokens"),
    ({"max_tokens": 10 ** 7}, "max_tokens", "max_tokens"),
    ({"backend": "os:system"}, "backend", "未知的回答后端"),
    ({"stream": "yes"}, "stream", "stream"),
    ({"model": 42}, "model", "model"),
    ({"sources": [1, 2]}, "sources", "sources"),
])
def test_openai_bad_parameters_are_400_in_openai_shape(ui_app, extra, param, message):
    assert_openai_error(v1(ui_app, body=ask_body(**extra)), 400, param, message)


@pytest.mark.parametrize("messages,param,message", [
    (None, "messages", "缺少参数 messages"),
    ([], "messages", "非空"),
    ("你好", "messages", "非空"),
    ([{"role": "robot", "content": FUNDS_Q}], "messages[0].role", "不支持 'robot'"),
    ([{"content": FUNDS_Q}], "messages[0].role", "不支持"),
    (["张家港"], "messages[0]", "role 和 content"),
    ([{"role": "user", "content": {"text": FUNDS_Q}}], "messages[0].content", "content"),
    ([{"role": "user", "content": FUNDS_Q}, {"role": "assistant", "content": "好"}], "messages[1].role", "最后一条"),
    ([{"role": "user", "content": "  "}], "messages[0].content", "空的"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], "messages[0].content", "空的"),
])
def test_openai_bad_messages_are_400_in_openai_shape(ui_app, messages, param, message):
    body = {"model": "shanhai-extractive"} | ({} if messages is None else {"messages": messages})
    assert_openai_error(v1(ui_app, body=body), 400, param, message)


def test_openai_over_long_questions_are_400_naming_the_limit(ui_app, oai):
    import openai

    err = assert_openai_error(v1(ui_app, body=ask_body() | {"messages": [{"role": "user", "content": "问" * 5000}]}),
                              400, "messages[0].content", "问题过长：共 5000 个字符，超过上限 500 个字符")
    assert "answer.max_question_chars" in err["message"]
    r = v1(ui_app, body=ask_body() | {"messages": [{"role": "user", "content": "问" * 100_000}]})
    assert_openai_error(r, 400, message="问题过长")  # was a 503 blaming the number of passages
    with pytest.raises(openai.BadRequestError, match="问题过长"):
        oai.chat.completions.create(model="shanhai-extractive", messages=[{"role": "user", "content": "问" * 600}])
    huge = "问" * 400_000  # ~1.2 MB of JSON: over ui.max_request_kb, refused before it is read
    assert_openai_error(v1(ui_app, body=ask_body() | {"messages": [{"role": "user", "content": huge}]}), 413,
                        message="ui.max_request_kb")


def test_openai_malformed_json_and_wrong_body_types_are_400(ui_app):
    for raw in ('{"model": "shanhai", "messages": [', "not json at all", '{"model": "shanhai",}'):
        r = httpx.post(ui_app.url + "v1/chat/completions", content=raw, headers={"content-type": "application/json"})
        err = assert_openai_error(r, 400, message="不是合法的 JSON")
        assert err["code"] == "invalid_json"
    r = httpx.post(ui_app.url + "v1/chat/completions", json=["a", "list"])
    assert_openai_error(r, 400, message="JSON 对象")
    r = httpx.post(ui_app.url + "v1/chat/completions", content=b"", headers={"content-type": "application/json"})
    assert_openai_error(r, 400, message="请求体为空")
    r = httpx.post(ui_app.url + "v1/chat/completions", content="model=shanhai",
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert 400 <= r.status_code < 500 and set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_openai_unknown_routes_and_methods_in_openai_shape(ui_app):
    for path in ("v1/completions", "v1/embeddings", "v1/", "v1", "v1/chat/completions/extra"):
        err = assert_openai_error(httpx.post(ui_app.url + path, json={}), 404, message="没有接口")
        assert err["code"] == "unknown_url"
    assert_openai_error(httpx.get(ui_app.url + "v1/chat/completions"), 405, message="POST")
    assert_openai_error(httpx.delete(ui_app.url + "v1/models"), 405, message="GET")
    assert httpx.get(ui_app.url + "gradio_api/info").status_code == 200  # the UI's own routes are untouched


def test_openai_streaming_requests_are_checked_before_the_stream_starts(ui_app):
    r = v1(ui_app, body=ask_body(stream=True, date_from="2021-02-29"))
    assert r.headers["content-type"].startswith("application/json")
    assert_openai_error(r, 400, "date_from", "不是有效的日期")


def test_openai_valid_temperature_max_tokens_and_top_k_are_accepted(ui_app):
    r = v1(ui_app, body=ask_body(temperature=0.2, max_tokens=64, top_k=3, date_from="2020年7月"))
    assert r.status_code == 200, r.text
    assert r.json()["shanhai"]["citations"]


# -- gradio API and chat handler: the same checks ------------------------------------------------------
@pytest.mark.parametrize("args,message", [
    (("问" * 5000, "extractive", 5), "问题过长：共 5000 个字符"),
    ((FUNDS_Q, "extractive", 500), "段落数 k 必须在 1 到 20 之间"),
    ((FUNDS_Q, "os:system", 5), "未知的回答后端"),
    ((FUNDS_Q, "extractive", 5, [], "2020-13-45"), "不是有效的日期"),
])
def test_gradio_ask_rejects_bad_input_with_a_clear_message(client, args, message):
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/ask")
    assert not client.predict(FUNDS_Q, "extractive", 5, api_name="/ask")["refused"]


def test_gradio_search_checks_k_and_question(client):
    with pytest.raises(Exception, match="段落数 k"):
        client.predict(FUNDS_Q, -1, api_name="/search")
    with pytest.raises(Exception, match="问题过长"):
        client.predict("问" * 600, 3, api_name="/search")


def test_chat_keeps_a_rejected_question_in_the_box(ui_app):
    long_q = "请问" + "张家港向沿河投入多少资金" * 60
    out = run_turn(ui_app.ctx, long_q)
    reply = out.messages[-1]["content"]
    assert "问题无法处理" in reply and "问题过长：共 722 个字符，超过上限 500 个字符" in reply
    assert out.box == long_q  # nothing typed is lost
    assert len(out.messages[0]["content"]) < 400  # the bubble shows the start, not 700 characters
    bad = run_turn(ui_app.ctx, FUNDS_Q, date_from="2020-13-45")
    assert "设置有误" in bad.messages[-1]["content"] and "不是有效的日期" in bad.messages[-1]["content"]
    assert bad.box == FUNDS_Q


def test_chat_rewrites_the_pair_follow_up(ui_app):
    first = run_turn(ui_app.ctx, FUNDS_Q)
    follow = run_turn(ui_app.ctx, PAIR_FOLLOW_UP, first.messages, first.history)
    reply = follow.messages[-1]["content"]
    assert "已理解为：天津市和平区向靖远县投入多少资金？" in reply and "5200万元" in reply
    assert follow.history[-1][0] == "天津市和平区向靖远县投入多少资金？"


# -- auth ------------------------------------------------------------------------------------------------
def test_auth_protects_ui_api_and_v1(ui_app):
    from gradio_client import Client

    config = ui_app.config.with_overrides({"ui.auth": "tester:pw-123"})
    _app, server, thread, url = start_app(ui_app.pipeline, config)
    try:
        assert httpx.get(url + "v1/models").status_code == 401
        err = httpx.get(url + "v1/models").json()["error"]
        assert set(err) == {"message", "type", "param", "code"} and err["code"] == "invalid_api_key"
        assert httpx.get(url + "v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(url + "v1/models", headers={"Authorization": "Bearer pw-123"}).status_code == 200
        assert httpx.get(url + "gradio_api/info").status_code == 401
        with pytest.raises(Exception):
            Client(url, verbose=False).predict(api_name="/documents")
        docs = Client(url, auth=("tester", "pw-123"), verbose=False).predict(api_name="/documents")
        assert len(docs) == 5
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_serve_corpus_ingests_only_what_the_index_lacks(ui_app, seeds_dir, tmp_path):
    assert ui_app.pipeline.unindexed_files(seeds_dir) == []
    extra = tmp_path / "corpus"
    extra.mkdir()
    for f in seeds_dir.glob("*.txt"):  # the indexed files, reached through links
        (extra / f.name).symlink_to(f)
    (extra / "new_one.txt").write_text(CANAL_ARTICLE, encoding="utf-8")
    assert [p.name for p in ui_app.pipeline.unindexed_files(extra)] == ["new_one.txt"]


def test_starting_and_using_the_app_resolves_no_outside_host(ui_app, monkeypatch):
    import time as _time

    seen: list[str] = []
    real = socket.getaddrinfo

    def recording(host, *args, **kwargs):
        seen.append(str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    _app, server, thread, url = start_app(ui_app.pipeline, ui_app.config)
    try:
        assert httpx.get(url).status_code == 200
        assert httpx.get(url + "gradio_api/info").status_code == 200
        _time.sleep(1.0)  # Gradio's version check / telemetry would run in background threads
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    assert set(seen) <= {"127.0.0.1", "localhost"}, seen
