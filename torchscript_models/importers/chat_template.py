"""A folder's chat template, rendered once at import into the contract's
prompt_template (docs/importing.md#bos-and-chat-templates).

The template is found in chat_template.jinja, else chat_template.json
({"chat_template": ...}), else tokenizer_config.json's "chat_template" (a
string, or a list of named templates: "default" is used). It is rendered as
transformers renders it: Jinja2's ImmutableSandboxedEnvironment with
trim_blocks and lstrip_blocks and the loop controls, the globals
raise_exception (the template's own error) and strftime_now (today's date,
e.g. Llama-3.1's "Today Date"), the tojson filter without ASCII escapes,
transformers' {% generation %} block (it marks an assistant's answer for
training masks; rendered as its body, as transformers renders it), and
the variables messages, add_generation_prompt=True, tools=None,
documents=None and the special tokens (bos_token, eos_token, ...). The one
user message's content is "{question}"; --system adds a system message
before it. The result must hold "{question}" exactly once. For an image
model (LLaVA) the content is a list, as its processor passes it: an image
part, then a text part "{question}"; the rendering must hold the image
placeholder (e.g. "<image>") exactly once, and it becomes "{image}", where the
contract puts the image's positions.

Usage: text, source = find_chat_template(folder, tokenizer_config)          # (None, None) when none
       template = render_chat_template(text, source, special_tokens, system=None, image=None)"""
import datetime
import json
import os

from .errors import CheckpointError

QUESTION = "{question}"
IMAGE = "{image}"


def find_chat_template(folder, tokenizer_config):
    """(template text, where it came from) or (None, None)."""
    jinja = os.path.join(folder, "chat_template.jinja")
    if os.path.isfile(jinja):
        with open(jinja, encoding="utf-8") as f:
            return f.read(), jinja
    path = os.path.join(folder, "chat_template.json")
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as f:
                value = json.load(f)
        except ValueError as e:
            raise CheckpointError("%s: not valid JSON: %s" % (path, e)) from e
        return pick(value.get("chat_template") if isinstance(value, dict) else None, path)
    value = tokenizer_config.get("chat_template")
    if value is None:
        return None, None
    return pick(value, os.path.join(folder, "tokenizer_config.json"))


def pick(value, where):
    if isinstance(value, list):  # named templates: [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        if "default" not in named:
            raise CheckpointError("%s: chat_template lists templates %s but no \"default\""
                                  % (where, ", ".join(map(str, named))))
        value = named["default"]
    if not isinstance(value, str) or not value:
        raise CheckpointError("%s: chat_template must be a template string" % where)
    return value, where


class TemplateRaised(Exception):
    pass


def generation_extension():
    """{% generation %}...{% endgeneration %} (llava-hf's processor templates
    wrap assistant answers in it): renders its body unchanged."""
    from jinja2 import nodes
    from jinja2.ext import Extension

    class GenerationBlock(Extension):
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return nodes.CallBlock(self.call_method("render_body"), [], [], body).set_lineno(lineno)

        def render_body(self, caller):
            return caller()

    return GenerationBlock


def render_chat_template(text, source, tokens, system=None, image=None):
    """The template rendered for one user message "{question}" (after a
    system message `system` when given), with the generation prompt. With
    `image` (the placeholder text), the message holds an image before its
    text, and the placeholder becomes "{image}"."""
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise TemplateRaised(message)

    def strftime_now(fmt):
        return datetime.datetime.now().strftime(fmt)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols, generation_extension()])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    if image is None:
        messages = ([{"role": "system", "content": system}] if system is not None else []) + \
            [{"role": "user", "content": QUESTION}]
    else:  # a multimodal processor's messages: lists of typed parts
        messages = ([{"role": "system", "content": [{"type": "text", "text": system}]}] if system is not None
                    else []) + [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    try:
        rendered = env.from_string(text).render(messages=messages, add_generation_prompt=True, tools=None,
                                                documents=None, **tokens)
    except TemplateRaised as e:
        raise CheckpointError("%s: the chat template refuses a %suser message: %s"
                              % (source, "system and " if system is not None else "", e)) from e
    except jinja2.TemplateError as e:
        raise CheckpointError("%s: the chat template fails: %s: %s" % (source, type(e).__name__, e)) from e
    except Exception as e:  # a template's own expressions (e.g. a bad index) raise Python errors
        raise CheckpointError("%s: the chat template fails: %s: %s" % (source, type(e).__name__, e)) from e
    count = rendered.count(QUESTION)
    if count != 1:
        raise CheckpointError("%s: the rendered chat template holds the user message %s (expected once): %s"
                              % (source, "%d times" % count if count else "nowhere", json.dumps(rendered)[:200]))
    if image is not None:
        count = rendered.count(image)
        if count != 1:
            raise CheckpointError("%s: the rendered chat template holds the image placeholder %s %s (expected once): "
                                  "%s" % (source, json.dumps(image), "%d times" % count if count else "nowhere",
                                          json.dumps(rendered)[:200]))
        if IMAGE in rendered.replace(image, ""):
            raise CheckpointError("%s: the rendered chat template holds %s as text: %s"
                                  % (source, IMAGE, json.dumps(rendered)[:200]))
        rendered = rendered.replace(image, IMAGE)
    return rendered
