"""The reference article's agent client, as it is there: the `openai` library, one tool
(`calculate_gpa`), a question in Chinese, the call run locally, its result sent back.

    tooltune api --model smollm2-135m-instruct --adapter saves/smollm2-general --port 8000
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 python examples/gpa_client.py

The article's messages are kept: the call goes back as a `function` turn holding
{"name", "argument"} (LLaMA-Factory's legacy layout) and the result as a `tool` turn.
"""
import json
import os
from typing import Sequence

from openai import OpenAI

os.environ.setdefault("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
os.environ.setdefault("OPENAI_API_KEY", "0")


def calculate_gpa(grades: Sequence[str], hours: Sequence[int]) -> float:
    grade_to_score = {"A": 4, "B": 3, "C": 2}
    total_score, total_hour = 0, 0
    for grade, hour in zip(grades, hours):
        total_score += grade_to_score[grade] * hour
        total_hour += hour
    return total_score / total_hour


tool_map = {"calculate_gpa": calculate_gpa}

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "calculate_gpa",
            "description": "根据课程成绩和学时计算 GPA",
            "parameters": {
                "type": "object",
                "properties": {
                    "grades": {"type": "array", "items": {"type": "string"}, "description": "课程成绩"},
                    "hours": {"type": "array", "items": {"type": "integer"}, "description": "课程学时"},
                },
                "required": ["grades", "hours"],
            },
        },
    }
]
QUESTION = "我的成绩是 A, A, B, C,学时是 3, 4, 3, 2"


def run(client: OpenAI, model: str = "yi-agent-6b") -> tuple[str, dict, str]:
    """(the called tool's name, its arguments, the final answer)."""
    messages = [{"role": "user", "content": QUESTION}]
    result = client.chat.completions.create(messages=messages, model=model, tools=TOOLS)
    calls = result.choices[0].message.tool_calls
    if not calls:
        raise SystemExit(f"no tool call; the model answered: {result.choices[0].message.content!r}")
    tool_call = calls[0].function
    name, arguments = tool_call.name, json.loads(tool_call.arguments)
    messages.append({"role": "function", "content": json.dumps({"name": name, "argument": arguments},
                                                               ensure_ascii=False)})
    tool_result = tool_map[name](**arguments)
    messages.append({"role": "tool", "content": json.dumps({"gpa": tool_result}, ensure_ascii=False)})
    result = client.chat.completions.create(messages=messages, model=model, tools=TOOLS)
    return name, arguments, result.choices[0].message.content


if __name__ == "__main__":
    name, arguments, answer = run(OpenAI())
    print(f"{name}({json.dumps(arguments, ensure_ascii=False)})")
    print(answer)
