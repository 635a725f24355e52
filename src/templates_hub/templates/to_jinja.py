"""Slot template -> Hugging Face chat template (Jinja), so a trained model's tokenizer carries its format.

The generated template renders what ``SlotTemplate.render`` renders with default options (multiturn,
``enable_thinking`` from the ``enable_thinking`` variable, default system, tool prompt, tool calls,
merged tool results, reasoning inside thought words), for the messages transformers passes
(``tool_calls`` with object ``arguments``, ``reasoning_content``). Like LLaMA-Factory's generated
templates, the user slot already ends with the assistant header, so ``add_generation_prompt`` only adds
the empty thought of a reasoning template when thinking is off.

With ``generation_tags=True`` every response is wrapped in ``{% generation %}`` so that
``return_assistant_tokens_mask=True`` marks the trained tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .slot import CONTENT, FALLBACK_EOS, IDX, TOOL_RESPONSE_JOINER, Special, Token
from .tool_formats import DEFAULT_TOOL_PROMPT, GLM4_TOOL_PROMPT, LLAMA3_TOOL_PROMPT, QWEN_TOOL_PROMPT

if TYPE_CHECKING:
    from .slot import Slot, SlotTemplate


def lit(text: str) -> str:
    """A Jinja string literal for ``text``."""
    escaped = (text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
               .replace("\t", "\\t"))
    return f"'{escaped}'"


def _slot_expr(template: SlotTemplate, slot: Slot, content: str | None, idx: str | None = None) -> str:
    """A Jinja expression concatenating the slot's elements, ``content`` / ``idx`` being Jinja expressions."""
    parts: list[str] = []
    for elem in slot:
        if isinstance(elem, str):
            head, sep, tail = elem.partition(CONTENT) if content is not None else (elem, "", "")
            pieces = ([lit(head)] if head else []) + ([f"({content})"] if sep else []) + ([lit(tail)] if tail else [])
            expr = " ~ ".join(pieces) if pieces else "''"
            if idx is not None and IDX in elem:
                # LLaMA-Factory replaces the first {{content}}, then the first {{idx}} of the result
                expr = f"({expr}).replace({lit(IDX)}, {idx}, 1)"
            parts.append(expr)
        elif isinstance(elem, Token):
            parts.append(lit(elem.token))
        elif isinstance(elem, Special) and elem.name == "bos_token":
            parts.append("(bos_token if bos_token else '')")
        else:
            parts.append(lit(template.stop_words[0]) if template.replace_eos
                         else f"(eos_token if eos_token else {lit(FALLBACK_EOS)})")
    return " ~ ".join(parts) if parts else "''"


_THINK_MACROS = """\
{%- macro th_strip(text) -%}
{%- set st = namespace(rest=text, out='') -%}
{%- for _ in range(1000) -%}
{%- set i = st.rest.find(OPEN) -%}
{%- if i < 0 -%}{%- break -%}{%- endif -%}
{%- set j = st.rest.find(CLOSE, i + OPEN|length) -%}
{%- if j < 0 -%}{%- break -%}{%- endif -%}
{%- set st.out = st.out ~ st.rest[:i] -%}
{%- set st.rest = st.rest[j + CLOSE|length:] -%}
{%- endfor -%}
{{- (st.out ~ st.rest).lstrip('\\n') -}}
{%- endmacro -%}
"""


def _tool_prompt_block(fmt: str) -> str:
    """Jinja statements setting ``tool_text`` from ``tools`` for tool format ``fmt``."""
    wrap = "(tool if 'type' in tool and tool['type'] == 'function' else {'type': 'function', 'function': tool})"
    unwrap = "(tool['function'] if 'type' in tool and tool['type'] == 'function' else tool)"
    if fmt == "qwen":
        head, _, tail = QWEN_TOOL_PROMPT.replace("{{", "{").replace("}}", "}").partition("{tool_text}")
        return ("{%- set tt = namespace(text='') -%}"
                "{%- for tool in tools -%}{%- set tt.text = tt.text ~ '\\n' ~ (" + wrap + " | tojson) -%}{%- endfor -%}"
                "{%- set tool_text = " + lit(head) + " ~ tt.text ~ " + lit(tail) + " -%}")
    if fmt == "llama3":
        prompt = LLAMA3_TOOL_PROMPT.replace("{{", "{").replace("}}", "}")
        head, _, rest = prompt.partition("{date}")
        middle, _, tail = rest.partition("{tool_text}")
        return ("{%- set tt = namespace(text='') -%}"
                "{%- for tool in tools -%}{%- set tt.text = tt.text ~ (" + wrap + " | tojson(indent=4)) ~ '\\n\\n' -%}"
                "{%- endfor -%}"
                "{%- set today = date_string if date_string is defined and date_string else strftime_now('%d %b %Y') -%}"
                "{%- set tool_text = " + lit(head) + " ~ today ~ " + lit(middle) + " ~ tt.text ~ " + lit(tail) + " -%}")
    if fmt == "glm4":
        head, _, tail = GLM4_TOOL_PROMPT.partition("{tool_text}")
        return ("{%- set tt = namespace(text='') -%}"
                "{%- for tool in tools -%}{%- set fn = " + unwrap + " -%}"
                "{%- set tt.text = tt.text ~ '\\n\\n## ' ~ fn['name'] ~ '\\n\\n' ~ (fn | tojson(indent=4)) ~ "
                + lit("\n在调用上述函数时，请使用 Json 格式表示调用的参数。") + " -%}{%- endfor -%}"
                "{%- set tool_text = " + lit(head) + " ~ tt.text ~ " + lit(tail) + " -%}")
    if fmt == "mistral":
        return ("{%- set tt = namespace(items=[]) -%}"
                "{%- for tool in tools -%}{%- set tt.items = tt.items + [" + wrap + "] -%}{%- endfor -%}"
                "{%- set tool_text = '[AVAILABLE_TOOLS] ' ~ (tt.items | tojson) ~ '[/AVAILABLE_TOOLS]' -%}")
    # default
    prompt = DEFAULT_TOOL_PROMPT.replace("{{", "{").replace("}}", "}")
    head, _, rest = prompt.partition("{tool_text}")
    middle, _, tail = rest.partition("{tool_names}")
    return (
        "{%- set tt = namespace(text='', names=[]) -%}"
        "{%- for tool in tools -%}{%- set fn = " + unwrap + " -%}"
        "{%- set params = fn['parameters'] if 'parameters' in fn and fn['parameters'] else {} -%}"
        "{%- set props = params['properties'] if 'properties' in params and params['properties'] else {} -%}"
        "{%- set required = params['required'] if 'required' in params else [] -%}"
        "{%- set pt = namespace(text='') -%}"
        "{%- for pname, param in props.items() -%}"
        "{%- set req = ', required' if pname in required else '' -%}"
        "{%- set enum = (', should be one of [' ~ (param['enum'] | join(', ')) ~ ']') "
        "if 'enum' in param and param['enum'] else '' -%}"
        "{%- set its = (', where each item should be ' ~ (param['items']['type'] if 'type' in param['items'] "
        "else '')) if 'items' in param and param['items'] else '' -%}"
        "{%- set pt.text = pt.text ~ '  - ' ~ pname ~ ' (' ~ (param['type'] if 'type' in param else '') ~ req "
        "~ '): ' ~ (param['description'] if 'description' in param else '') ~ enum ~ its ~ '\\n' -%}"
        "{%- endfor -%}"
        "{%- set tt.text = tt.text ~ '> Tool Name: ' ~ fn['name'] ~ '\\nTool Description: ' ~ "
        "(fn['description'] if 'description' in fn else '') ~ '\\nTool Args:\\n' ~ pt.text ~ '\\n' -%}"
        "{%- set tt.names = tt.names + [fn['name']] -%}"
        "{%- endfor -%}"
        "{%- set tool_text = " + lit(head) + " ~ tt.text ~ " + lit(middle) + " ~ (tt.names | join(', ')) ~ "
        + lit(tail) + " -%}"
    )


def _function_block(fmt: str) -> str:
    """Jinja statements setting ``fn_text`` from ``message.tool_calls`` for tool format ``fmt``."""
    head = (
        "{%- set fc = namespace(items=[]) -%}"
        "{%- for tc in message['tool_calls'] -%}"
        "{%- set f = tc['function'] if 'function' in tc else tc -%}"
        "{%- set args = f['arguments'] if 'arguments' in f and f['arguments'] is not none else {} -%}"
    )
    tail = "{%- endfor -%}"
    if fmt == "qwen":
        return (head + "{%- set fc.items = fc.items + ['<tool_call>\\n' ~ ({'name': f['name'], 'arguments': args} | tojson)"
                " ~ '\\n</tool_call>'] -%}" + tail + "{%- set fn_text = fc.items | join('\\n') -%}")
    if fmt == "llama3":
        return (head + "{%- set fc.items = fc.items + [{'name': f['name'], 'parameters': args}] -%}" + tail
                + "{%- set fn_text = (fc.items[0] if fc.items | length == 1 else fc.items) | tojson -%}")
    if fmt == "glm4":
        return (head + "{%- set fc.items = fc.items + [f['name'] ~ '\\n' ~ (args | tojson)] -%}" + tail
                + "{%- if fc.items | length > 1 -%}"
                "{{- raise_exception('tool format glm4 does not support parallel tool calls') -}}{%- endif -%}"
                "{%- set fn_text = fc.items[0] -%}")
    if fmt == "mistral":
        return (head + "{%- set fc.items = fc.items + [{'name': f['name'], 'arguments': args}] -%}" + tail
                + "{%- set fn_text = fc.items | tojson -%}")
    return (head + "{%- set fc.items = fc.items + ['Action: ' ~ f['name'] ~ '\\nAction Input: ' ~ (args | tojson)] -%}"
            + tail + "{%- set fn_text = fc.items | join('\\n') -%}")


def slot_to_jinja(template: SlotTemplate, *, generation_tags: bool = False) -> str:
    """The Jinja chat template equivalent to ``template`` (see the module docstring)."""
    from .base import RenderOptions

    function_slot, fmt = template.function_setup(RenderOptions())
    observation = template.observation if template.observation is not None else template.user
    open_word, close_word = template.thought_words
    gen_open, gen_close = ("{%- generation -%}", "{%- endgeneration -%}") if generation_tags else ("", "")
    out: list[str] = [
        "{#- " + f"Generated by templates-hub from slot template {template.name!r}" + " -#}",
        "{%- set OPEN = " + lit(open_word) + " -%}{%- set CLOSE = " + lit(close_word) + " -%}",
        _THINK_MACROS,
        "{%- set thinking = enable_thinking if enable_thinking is defined else true -%}",
        "{%- set system_message = " + lit(template.default_system) + " -%}",
        "{%- set ns0 = namespace(present=false) -%}",
        "{%- if messages and messages[0]['role'] == 'system' -%}",
        ("{%- set system_message = messages[0]['content'] or '' -%}{%- set ns0.present = true -%}"
         if template.keep_empty_system else "{%- set system_message = messages[0]['content'] or system_message -%}"),
        "{%- set loop_messages = messages[1:] -%}",
        "{%- else -%}{%- set loop_messages = messages -%}{%- endif -%}",
        "{%- set system_message = system_message | trim -%}" if template.strip == "all" else "",
        "{%- set tool_text = '' -%}",
        "{%- if tools is defined and tools is not none and tools | length > 0 -%}" + _tool_prompt_block(fmt)
        + "{%- endif -%}",
        "{%- set has_system = system_message or (tools is defined and tools is not none) or ns0.present -%}",
        "{%- set ns = namespace(pos=0, fused='', skip=0, last='') -%}",
        "{%- if loop_messages -%}",
        "{{- " + _slot_expr(template, template.prefix, None) + " -}}" if template.prefix else "",
    ]
    if template.fuse_system:
        first = template.system[0]
        out.append("{%- if has_system -%}{%- set ns.fused = " + _slot_expr(template, (first,), "system_message ~ tool_text")
                   + " -%}{%- endif -%}")
    else:
        out.append("{%- if has_system -%}{{- " + _slot_expr(template, template.system, "system_message ~ tool_text")
                   + " -}}{%- endif -%}")
    out.append("{%- endif -%}")

    def cot_check(content_var: str) -> str:
        return f"(OPEN | trim) not in {content_var} and (CLOSE | trim) not in {content_var}"

    reasoning = template.reasoning
    strip = template.strip != "none"
    user_expr = (_slot_expr(template, template.user, "ns.fused ~ content") if template.fuse_system
                 else _slot_expr(template, template.user, "content", "(ns.pos // 2) | string"))
    out += [
        "{%- for message in loop_messages -%}",
        "{%- if ns.skip > 0 -%}{%- set ns.skip = ns.skip - 1 -%}{%- continue -%}{%- endif -%}",
        "{%- set content = message['content'] if 'content' in message and message['content'] is not none "
        "else '' -%}",
        "{%- set reasoning = message['reasoning_content'] if 'reasoning_content' in message else none -%}",
        "{%- if reasoning is not none -%}{%- set content = OPEN ~ reasoning ~ CLOSE ~ content -%}{%- endif -%}",
        "{%- set raw = content -%}",
        "{%- set content = content | trim -%}" if strip else "",
        "{%- if message['role'] == 'user' -%}",
        "{{- " + user_expr + " -}}",
        "{%- set ns.fused = '' -%}{%- set ns.last = 'prompt' -%}",
        "{%- elif message['role'] == 'tool' -%}",
        "{%- set merged = namespace(text=raw) -%}",
        "{%- for later in loop_messages[loop.index0 + 1:] -%}",
        "{%- if later['role'] != 'tool' -%}{%- break -%}{%- endif -%}",
        "{%- set merged.text = merged.text ~ " + lit(TOOL_RESPONSE_JOINER)
        + " ~ (later['content'] if 'content' in later and later['content'] is not none else '') -%}",
        "{%- set ns.skip = ns.skip + 1 -%}",
        "{%- endfor -%}",
        "{%- set content = (merged.text | trim) if " + ("true" if strip else "false") + " else merged.text -%}",
        "{{- " + _slot_expr(template, observation, "content") + " -}}",
        "{%- set ns.last = 'prompt' -%}",
        "{%- elif message['role'] == 'assistant' -%}",
    ]
    if reasoning:
        out.append("{%- if thinking is sameas false -%}{%- set content = th_strip(content) -%}{%- endif -%}")
    out.append("{%- if 'tool_calls' in message and message['tool_calls'] -%}" + _function_block(fmt))
    if reasoning:
        out.append("{%- set probe = content ~ fc.items | string -%}")
    sep = lit(template.tool_call_separator)
    out.append("{%- set content = (content ~ " + sep + " ~ fn_text) if content else fn_text -%}")
    def response(slot_expr: str, probe: str) -> str:
        """The response: the empty thought (masked before, or trained inside, the generation block)."""
        if not reasoning:
            return gen_open + "{{- " + slot_expr + " -}}" + gen_close
        return ("{%- set need = " + cot_check(probe) + " -%}"
                "{%- if need and not thinking -%}{{- OPEN ~ CLOSE -}}{%- endif -%}" + gen_open
                + "{%- if need and thinking -%}{{- OPEN ~ CLOSE -}}{%- endif -%}{{- " + slot_expr + " -}}" + gen_close)

    out.append(response(_slot_expr(template, function_slot, "content"), "probe"))
    out.append("{%- else -%}")
    out.append(response(_slot_expr(template, template.assistant, "content"), "content"))
    out += [
        "{%- endif -%}",
        "{%- set ns.last = 'response' -%}",
        "{%- endif -%}",
        "{%- set ns.pos = ns.pos + 1 -%}",
        "{%- endfor -%}",
    ]
    if reasoning:
        out.append("{%- if add_generation_prompt and ns.last == 'prompt' and not thinking -%}{{- OPEN ~ CLOSE -}}"
                   "{%- endif -%}")
    if template.suffix:
        suffix = "{{- " + _slot_expr(template, template.suffix, None) + " -}}"
        if generation_tags:
            suffix = ("{%- if ns.last == 'response' -%}" + gen_open + suffix + gen_close + "{%- else -%}" + suffix
                      + "{%- endif -%}")
        out.append("{%- if loop_messages and not (add_generation_prompt and ns.last == 'prompt') -%}" + suffix
                   + "{%- endif -%}")
    return "\n".join(part for part in out if part) + "\n"
