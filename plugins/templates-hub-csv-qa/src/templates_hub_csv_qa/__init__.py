"""templates-hub plugin: question/answer tables as chat conversations (format ``csv_qa``).

A row ``{"question": "...", "answer": "..."}`` (column names configurable) becomes the conversation
``[user: question, assistant: answer]``; an optional ``context`` column is put before the question and
an optional ``system`` column becomes the system prompt. The adapter can also write rows back, so
``write_records(rows, layout="csv_qa", kind="sft")`` exports one-turn conversations as tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from templates_hub import hookimpl
from templates_hub.formats import Converted, Detection, FormatAdapter, RowProblem
from templates_hub.formats.base import message, need_str

__version__ = "0.1.0"


class CsvQAFormat(FormatAdapter):
    """Question/answer tables (CSV or any tabular file) as one-turn conversations."""

    name = "csv_qa"
    description = "Question/answer tables: question, answer (+ context, system) columns -> one-turn chats"
    kinds = ("sft",)
    writable = True
    defaults: dict[str, Any] = {"question": "question", "answer": "answer", "context": None, "system": "system"}
    #: options naming columns: one set explicitly (-o context=passage) must exist in the data
    column_options = ("question", "answer", "context", "system")

    @classmethod
    def detect(cls, sample: Sequence[Mapping[str, Any]]) -> Detection | None:
        if not sample:
            return None
        hits = sum(1 for rec in sample if isinstance(rec.get("question"), str) and isinstance(rec.get("answer"), str))
        if not hits:
            return None
        return Detection(0.95 * hits / len(sample), "sft", {}, "question/answer columns")

    def convert(self, record: Mapping[str, Any]) -> Converted:
        o = self.options
        question = need_str(record.get(o["question"]), o["question"]) or ""
        answer = need_str(record.get(o["answer"]), o["answer"]) or ""
        messages: list[dict[str, Any]] = []
        origin: dict[str, str] = {}
        if o["system"]:
            system = need_str(record.get(o["system"]), o["system"], allow_none=True)
            if system:
                origin["messages[0]"] = origin["messages[0].content"] = o["system"]
                messages.append(message("system", system))
        if o["context"]:
            context = need_str(record.get(o["context"]), o["context"], allow_none=True)
            if context:
                question = f"{context}\n\n{question}" if question else context
        user, assistant = len(messages), len(messages) + 1
        origin[f"messages[{user}]"] = origin[f"messages[{user}].content"] = o["question"]
        origin[f"messages[{assistant}]"] = origin[f"messages[{assistant}].content"] = o["answer"]
        messages += [message("user", question), message("assistant", answer)]
        return Converted({"messages": messages, "tools": None}, origin)

    def write(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Write a one-turn conversation as a table row; refuse anything the table cannot hold."""
        o = self.options
        messages = list(row["messages"])
        out: dict[str, Any] = {}
        if row.get("tools"):
            raise RowProblem("tools", "csv_qa has no column for tool schemas", "unrepresentable")
        if messages and messages[0]["role"] == "system":
            if not o["system"]:
                raise RowProblem("messages[0]", "csv_qa was configured without a system column", "unrepresentable")
            out[o["system"]] = messages.pop(0)["content"]
        roles = [m["role"] for m in messages]
        if roles != ["user", "assistant"] or any(m.get("tool_calls") for m in messages):
            raise RowProblem("messages", "csv_qa holds exactly one question and one plain answer", "unrepresentable")
        for i, m in enumerate(messages):
            for key in ("reasoning", "train"):
                if m.get(key) is not None:
                    raise RowProblem(f"messages[{i}].{key}", f"csv_qa has no column for {key}", "unrepresentable")
        out[o["question"]] = messages[0]["content"]
        out[o["answer"]] = messages[1]["content"]
        return out


@hookimpl
def register_formats(register):
    """Register the csv_qa format."""
    register(CsvQAFormat)
