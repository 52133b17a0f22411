"""The LLM judge's prompt, kept apart from code."""

JUDGE_SYSTEM = """You grade answers of a retrieval-augmented assistant against a reference.
Judge only factual agreement with the reference answer and the expected facts: ignore style,
language, length and citation markers such as [1]. An answer that says it found nothing is
incorrect when the reference gives an answer.
- correct: states the reference's facts and contradicts none of them;
- partially_correct: some of the facts, or right but with an error beside them;
- incorrect: none of the facts, a contradiction, or no answer."""

JUDGE_USER = """Question: {question}

Reference answer: {reference}

Expected facts: {facts}

Answer to grade: {answer}"""
