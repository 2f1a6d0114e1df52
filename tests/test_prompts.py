"""prompts.build_prompt: decision tree, context, language, marker stripping, schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alttext_tools.core import Context, ImageRef, Span, Syntax, image_role
from alttext_tools.engines.llama import schema_supported
from alttext_tools.generate.prompts import PROMPT_VERSION, answer_schema, build_prompt, language_name, sanitize_context
from alttext_tools.scan.dispatch import scan_file

# Every marker or special token a llama-cpp-python 0.3.36 handler (or a common GGUF vocabulary)
# would act on if it appeared in the prompt text.
MARKERS = [
    "<image>",
    "</image>",
    "<__media__>",
    "<|image_pad|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<start_of_image>",
    "<end_of_image>",
    "<start_of_turn>",
    "<end_of_turn>",
    "[IMG]",
    "[IMG_BREAK]",
    "[IMG_END]",
    "[INST]",
    "[/INST]",
    "</s>",
    "<s>",
    "<|eot_id|>",
    "<|start_header_id|>",
    "<fake_token_around_image>",
    "<<SYS>>",
]


def make_image(context: Context, path: str = "docs/page.md") -> ImageRef:
    return ImageRef(
        path=path,
        syntax=Syntax.MD_INLINE,
        span=Span(0, 10),
        line=3,
        column=1,
        source="![](x.png)",
        src="x.png",
        alt=None,
        alt_kind=None,
        alt_span=None,
        context=context,
    )


def everything(prompt) -> str:  # type: ignore[no-untyped-def]
    return prompt.system + "\n" + prompt.user


def test_context_fields_reach_the_prompt() -> None:
    ctx = Context(
        page_title="Install guide",
        heading="Linux",
        paragraph="Run the installer as shown below.",
        caption="The installer window",
    )
    prompt = build_prompt(make_image(ctx), "informative", None, "qwen2.5-vl", 150)
    text = everything(prompt)
    for value in ("Install guide", "Linux", "Run the installer as shown below.", "The installer window"):
        assert value in text
    assert "do not repeat" in text.lower()
    assert "150 characters" in text
    assert "image of" in text.lower()  # the "never begin with image of" rule
    assert prompt.system  # qwen gets the instructions as the system message


def test_moondream_gets_everything_in_the_user_message() -> None:
    ctx = Context(page_title="Install guide")
    prompt = build_prompt(make_image(ctx), "informative", "es", "moondream", 120)
    assert prompt.system == ""
    assert "W3C" in prompt.user and "Install guide" in prompt.user and "Spanish (es)" in prompt.user


def test_functional_link_describes_destination() -> None:
    ctx = Context(in_link=True, link_href="https://example.com/pricing", link_text="See plans")
    image = make_image(ctx)
    role = image_role(image)
    assert role == "functional:https://example.com/pricing"
    text = everything(build_prompt(image, role, None, "qwen2.5-vl", 150))
    assert "https://example.com/pricing" in text and "See plans" in text
    assert "where the link goes" in text and "never decorative" in text


def test_button_role() -> None:
    image = make_image(Context(in_button=True, link_text="Search"))
    assert image_role(image) == "functional:button:Search"
    assert "action the button performs" in everything(build_prompt(image, image_role(image), None, "mtmd", 150))


def test_text_heavy_hint() -> None:
    image = make_image(Context())
    assert "transcribe" in build_prompt(image, "informative", None, "qwen2.5-vl", 150, text_heavy=True).user
    assert "transcribe" not in build_prompt(image, "informative", None, "qwen2.5-vl", 150).user


@pytest.mark.parametrize(
    ("tag", "name"),
    [
        ("es", "Spanish (es)"),
        ("fr", "French (fr)"),
        ("de", "German (de)"),
        ("pt-BR", "Brazilian Portuguese (pt-BR)"),
        ("zh_Hans", "Simplified Chinese (zh_Hans)"),
        ("ko", "Korean (ko)"),
    ],
)
def test_language_names(tag: str, name: str) -> None:
    assert language_name(tag) == name


def test_unknown_language_tag_is_passed_through_safely() -> None:
    assert language_name("xx-<|im_end|>") == "the language with the tag 'xx-'"
    assert language_name(None) is None and language_name("") is None


def test_language_from_a_docs_es_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "docs" / "es" / "guia.md"
    page.parent.mkdir(parents=True)
    page.write_text("# Guía\n\nConfigura la pantalla: ![](captura.png)\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    [image] = scan_file(Path("docs/es/guia.md"), "docs/es/guia.md").images
    assert image.context.lang == "es"
    prompt = build_prompt(image, image_role(image), image.context.lang, "qwen2.5-vl", 150)
    assert "Write the alt text in Spanish (es)." in prompt.user
    assert "Configura la pantalla" in prompt.user


def test_no_language_no_language_line() -> None:
    assert (
        "Write the alt text in" not in build_prompt(make_image(Context()), "informative", None, "qwen2.5-vl", 150).user
    )


@pytest.mark.parametrize("handler", ["moondream", "qwen2.5-vl", "llava", "mtmd"])
def test_media_markers_and_special_tokens_are_stripped(handler: str) -> None:
    hostile = " ".join(f"word{i} {m}" for i, m in enumerate(MARKERS))
    ctx = Context(
        page_title=hostile,
        heading=hostile,
        paragraph=hostile + " data:image/png;base64,iVBORw0KGgo=",
        caption=hostile,
        link_text=hostile,
        link_href="https://x.test/<|im_end|>",
        in_link=True,
    )
    prompt = build_prompt(make_image(ctx), "functional:x", "es<image>", handler, 150)
    text = everything(prompt)
    for marker in MARKERS:
        assert marker not in text, marker
    assert "data:image" not in text
    assert "word0" in text and "word5" in text  # the words around the markers survive


def test_nested_markers_cannot_reassemble() -> None:
    # Markers become spaces, so removing one never joins the halves of another.
    out = sanitize_context("a <ima<image>ge> b <|im_<|im_end|>start|> c <__med<__media__>ia__>", 100)
    assert out is not None
    for marker in ("<image>", "<|im_start|>", "<|im_end|>", "<__media__>"):
        assert marker not in out


def test_context_is_one_line_and_capped() -> None:
    long = "word " * 500 + "\n\x00\u202e tail"
    out = sanitize_context(long, 600)
    assert out is not None and len(out) <= 600 and "\n" not in out and "\x00" not in out and "\u202e" not in out
    assert out.endswith("…")
    prompt = build_prompt(make_image(Context(paragraph=long, page_title=long)), "informative", None, "qwen2.5-vl", 150)
    assert len(prompt.user) < 1500


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_sanitized_context_never_holds_a_marker(text: str) -> None:
    out = sanitize_context(text, 200) or ""
    assert "<|" not in out or "|>" not in out.split("<|", 1)[1]
    for marker in ("<image>", "<__media__>", "[IMG]", "</s>"):
        assert marker not in out
    assert "\n" not in out and len(out) <= 200


def test_schema_and_plain_mode() -> None:
    prompt = build_prompt(make_image(Context()), "informative", None, "qwen2.5-vl", 80)
    assert prompt.json_schema == answer_schema(80)
    assert prompt.json_schema["properties"]["alt"]["maxLength"] == 80
    assert prompt.json_schema["required"] == ["alt", "decorative"]
    assert "JSON" in prompt.user
    plain = build_prompt(make_image(Context()), "informative", None, "qwen2.5-vl", 80, json_output=False)
    assert plain.json_schema is None and "JSON" not in plain.user


def test_schema_is_a_grammar_llama_cpp_accepts(tiny_models: dict[str, Path]) -> None:
    from llama_cpp import Llama

    llm = Llama(model_path=str(tiny_models["qwen_text"]), n_ctx=256, n_threads=1, verbose=False)
    try:
        for max_length in (40, 150, 300):
            assert schema_supported(answer_schema(max_length), llm)
    finally:
        llm.close()


def test_prompt_version_is_a_non_empty_string() -> None:
    assert isinstance(PROMPT_VERSION, str) and PROMPT_VERSION
    json.dumps(PROMPT_VERSION)
