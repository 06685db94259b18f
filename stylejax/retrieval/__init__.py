"""Style and content retrieval: embed image collections into a faiss index, then search it.

  from stylejax import retrieval
  retrieval.embed("paintings/", "indexes/paintings")            # resumable; config: stylejax/configs/retrieval.py
  results = retrieval.search("indexes/paintings", ["query.jpg"], by="style-not-content", k=10)
  retrieval.contact_sheet(results, "sheet.png")

Modules: `embeddings` (pure feature -> vector functions), `embedder` (network, compiled sharded step),
`sources` (folders, list files, tfds), `store` (shards + manifest), `index` (faiss), `search`
(ranking modes, JSON, contact sheet), `pipeline` (the embed run).
"""

from stylejax.retrieval.index import rebuild
from stylejax.retrieval.pipeline import EmbedResult, embed
# `search` below is the function; the module is `stylejax.retrieval.search` in sys.modules.
from stylejax.retrieval.search import (CONTENT_THRESHOLD, MODES, Hit, QueryResult, Searcher, check_request,
                                       contact_sheet, search, to_json)
from stylejax.retrieval.store import Store

__all__ = ["CONTENT_THRESHOLD", "MODES", "EmbedResult", "Hit", "QueryResult", "Searcher", "Store",
           "check_request", "contact_sheet", "embed", "rebuild", "search", "to_json"]
