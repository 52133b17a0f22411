"""What an evaluation asks questions of: an agent's graph in this process, or a running server.

Both return the same ``Answer`` — text, cited sources, the answer's metrics and any error — so the
evaluators and the report never know where an answer came from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from graphs.context import AgentContext
from graphs.dependencies import RunDependencies
from graphs.events import RunResult
from graphs.registry import get_agent, run_config
from graphs.streaming import measured_events, user_turn
from routeur.evaluation.dataset import Example

if TYPE_CHECKING:
    from nodes.models.factory import ModelRegistry
    from retrievers.base import DocumentStore
    from routeur.client import AsyncRouteurClient
    from routeur.settings import Settings


Answer = RunResult
"""An answer as the evaluators read it: text, cited sources, metrics (``metadata``), error."""


class Target(Protocol):
    agent: str

    async def answer(self, example: Example) -> Answer: ...

    async def project_files(self, project_id: str) -> set[str]:
        """Every file id of the project: a cited source outside it broke the project filter."""
        ...


class GraphTarget:
    """The agent's graph, run here on this process's store, measured as the API measures it."""

    def __init__(
        self,
        agent: str,
        *,
        store: DocumentStore,
        settings: Settings,
        model: str | None = None,
        top_k: int | None = None,
        models: ModelRegistry | None = None,
    ):
        self.spec = get_agent(agent, settings.default_agent)
        self.agent = self.spec.type
        self.dependencies = RunDependencies.from_settings(settings, store=store, models=models)
        self.model = model or settings.default_model
        self.dependencies.models.ensure_available(self.model)  # unknown or unconfigured: fail now, not on every question
        self.store = store
        self.settings = settings
        self.top_k = top_k or settings.top_k
        self.graph = self.spec.build(None)

    async def answer(self, example: Example) -> Answer:
        context = AgentContext.from_settings(
            self.settings, project_id=example.project_id, model=self.model, sources=list(example.sources), top_k=self.top_k
        )
        messages = await self._history(example, context)
        result = Answer()
        async for event, metrics in measured_events(
            self.graph,
            {"messages": [*messages, *user_turn(example.question)["messages"]]},
            agent=self.spec,
            context=context,
            dependencies=self.dependencies,
        ):
            result.add(event, metrics)
        return result

    async def _history(self, example: Example, context: AgentContext) -> list[BaseMessage]:
        """The conversation before the question: each earlier turn asked and answered by the same
        agent (unmeasured), as a session would hold it."""
        messages: list[BaseMessage] = []
        for turn in example.history:
            messages.append(HumanMessage(turn))
            state = await self.graph.ainvoke(
                {"messages": list(messages)},
                context=context,
                config=run_config(self.spec, context.max_search_rounds, dependencies=self.dependencies),
            )
            messages.append(AIMessage(state.get("answer", "")))
        return messages

    async def project_files(self, project_id: str) -> set[str]:
        return {f.file_id for f in await self.store.list_files(project_id=project_id)}


class ServerTarget:
    """The agent behind a running server, through ``/completion``'s stream (stateless: evaluation
    questions leave no sessions behind). A follow-up's earlier turns are asked first, each with
    the turns before it, and sent as its ``conversation_history``, as a stateless client would."""

    def __init__(self, agent: str, client: AsyncRouteurClient, *, model: str | None = None, top_k: int | None = None):
        self.agent = agent
        self.client = client
        self.model = model
        self.top_k = top_k

    async def answer(self, example: Example) -> Answer:
        from routeur.client import RouteurError

        result = Answer()
        options = {
            "agent": self.agent,
            "model": self.model,
            "project_id": example.project_id,
            "sources": list(example.sources) or None,
            "top_k": self.top_k,
        }
        try:
            history = await self._history(example, options)
            async for event in self.client.complete_stream(example.question, history=history or None, **options):
                result.add(event)
        except RouteurError as exc:
            result.error = {"phase": "request", "message": str(exc)}
        return result

    async def _history(self, example: Example, options: dict[str, Any]) -> list[dict[str, str]]:
        """The conversation before the question: each earlier turn answered by the same agent."""
        history: list[dict[str, str]] = []
        for turn in example.history:
            reply = await self.client.complete(turn, history=list(history) or None, **options)
            history += [{"role": "user", "content": turn}, {"role": "assistant", "content": reply.response}]
        return history

    async def project_files(self, project_id: str) -> set[str]:
        return {document.file_id async for document in self.client.iter_documents(project_id)}
