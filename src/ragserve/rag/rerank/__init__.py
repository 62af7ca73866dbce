"""Reranking retrieved passages: a scorer rates (query, passage) pairs, the stage reorders.

base.py           PassageScorer protocol, RerankStage (candidates → top_k), the factory
remote.py         cross-encoder servers over HTTP: vLLM/Jina/Cohere/Infinity, TEI, vLLM score
cross_encoder.py  a sentence-transformers CrossEncoder in-process (CPU)
llm_scoring.py    the chat model rates passages, several per prompt, with a fallback
"""

from ragserve.rag.rerank.base import PassageScorer, RerankStage, Scored, build_rerank_stage

__all__ = ["PassageScorer", "RerankStage", "Scored", "build_rerank_stage"]
