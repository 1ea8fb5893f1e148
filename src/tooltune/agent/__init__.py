"""Agents: a loop that runs tools (tooltune.functions) for a model, and a terminal chat."""
from tooltune.agent.local import ChatClient, LocalModel, OpenAIChat
from tooltune.agent.loop import AgentResult, AgentStepLimit, run

__all__ = ["AgentResult", "AgentStepLimit", "ChatClient", "LocalModel", "OpenAIChat", "run"]
