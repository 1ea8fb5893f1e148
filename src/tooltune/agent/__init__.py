"""Agents: Python functions as tools, a loop that runs them for a model, and a terminal chat."""
from tooltune.agent.local import ChatClient, LocalModel, OpenAIChat
from tooltune.agent.loop import AgentResult, AgentStepLimit, run

__all__ = ["AgentResult", "AgentStepLimit", "ChatClient", "LocalModel", "OpenAIChat", "run"]
